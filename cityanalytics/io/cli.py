"""``cityanalytics validate PATH --table T``: load a file and print its load report.

Exit 0 when every row is kept, 1 when rows were rejected, 2 when the file cannot be used.
"""

from __future__ import annotations

import argparse
import sys

from cityanalytics.schemas import TABLES

HELP = "Load a file into a canonical table and print the load report."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="CSV, .xlsx or Parquet file, or a SQLAlchemy URL (sqlite:///x.db)")
    parser.add_argument("--table", required=True, choices=list(TABLES), help="canonical table to load it as")
    parser.add_argument("--sheet", help="Excel sheet name (default: every sheet with a header for the table)")
    parser.add_argument("--sql", help="with a database URL: a query to run instead of reading the table")
    parser.add_argument("--aliases", help="YAML file of extra column aliases {table: {column: [names]}} "
                                          "and value_fixes {wrong: right}")
    parser.add_argument("--units", help="districts file; unit names are resolved to ids, unknown units rejected")
    parser.add_argument("--rejections", metavar="CSV", help="write every rejection (file,row,column,value,reason) here")
    parser.add_argument("--max-rows", type=int, default=20, help="rejections to print (default 20)")
    parser.add_argument("--encoding", help="text encoding of a CSV file (e.g. gbk) instead of detecting it")
    parser.add_argument("--decimal", choices=[".", ","], default=".",
                        help="decimal separator of numbers: ',' reads 3,5 as 3.5 (default '.')")
    parser.add_argument("--date-format", action="append", default=[], metavar="COLUMN=FORMAT",
                        help="strptime format for a date column, e.g. reported_at='%%m/%%d/%%Y %%I:%%M:%%S %%p' "
                             "(repeatable)")


def run(args: argparse.Namespace) -> int:
    from cityanalytics.io import LoadError, load
    from cityanalytics.io.headers import read_alias_file

    try:
        aliases = read_alias_file(args.aliases) if args.aliases else None
        units = load(args.units, "districts").frame if args.units else None
        date_formats = dict(_column_format(item) for item in args.date_format)
        result = load(args.path, args.table, sheet=args.sheet, sql=args.sql, aliases=aliases, units=units,
                      encoding=args.encoding, decimal=args.decimal, date_formats=date_formats or None)
    except (LoadError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = result.report
    print(report.summary(max_rows=args.max_rows))
    if args.rejections:
        from cityanalytics.io.report import spreadsheet_safe

        spreadsheet_safe(report.rejections).to_csv(args.rejections, index=False, encoding="utf-8-sig")
        print(f"  rejections written to {args.rejections}")
    return 0 if report.ok else 1


def _column_format(item: str) -> tuple[str, str]:
    column, sep, fmt = item.partition("=")
    if not sep or not column.strip() or not fmt:
        raise ValueError(f"--date-format: expected COLUMN=FORMAT, got {item!r}")
    return column.strip(), fmt
