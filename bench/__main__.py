"""Run benchmarks: ``python -m bench [NAME ...]``. Each prints its figures; none fails on timing."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    available = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    names = [n for n in names[:next((i for i, n in enumerate(names) if n.startswith("-")), len(names))]]
    chosen = names or list(available)  # options after the names are the benchmark's own (--cases N)
    unknown = [n for n in chosen if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    for name in chosen:
        print(f"== bench {name}", flush=True)
        runpy.run_path(str(available[name]), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
