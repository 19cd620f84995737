"""The synthetic demo city (示范市): every canonical table plus the truth it was drawn from.

    from cityanalytics.demo import generate, generate_truth, write_demo
    tables = generate(seed=2025, n_cases=50_000)          # dict of pandas DataFrames
    files = write_demo("demo_out", fmt="parquet")         # table name -> Path, plus "truth"
    truth = generate_truth(seed=2025, n_cases=50_000)     # what truth.json holds

The city, its units, roads and communities are made up (division codes use the unused
province prefix 99) and every file says so. Same seed and n_cases, same data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from . import assessments, campaigns, cases, citywide, communities, dust, plan_observations, timeline, units, writing
from . import assets as asset_register
from . import places, surveys
from . import truth as truth_file

__all__ = ["generate", "write_demo", "generate_truth", "TABLES", "DEFAULT_SEED", "DEFAULT_CASES"]

DEFAULT_SEED = 2025
DEFAULT_CASES = cases.DEFAULT_CASES
TABLES = ("districts", "unit_changes", "cases", "dust_samples", "communities", "assessments", "campaigns",
          "observations", "assets", "inspections",
          "survey_responses")


def _n(n_cases: int | None) -> int:
    n = DEFAULT_CASES if n_cases is None else int(n_cases)
    if n < 0:
        raise ValueError(f"n_cases must be >= 0, got {n}")
    return n


def _small(seed: int) -> tuple[dict[str, pa.Table], dict]:
    """Every table except cases (they do not depend on n_cases), and their truth parts."""
    dust_df, dust_truth = dust.generate(seed)
    comm_df, comm_truth = communities.generate(seed)
    ass_df, ass_truth = assessments.generate(seed)
    obs_df, _ = citywide.generate(seed)  # its truth is the city-wide campaign's, under campaigns
    plan_df, plan_truth = plan_observations.generate(seed)  # the plans' aggregated targets
    assets_df, inspections_df, assets_truth = asset_register.generate(seed)  # lamps, roads, bridges
    survey_df, survey_truth = surveys.generate(seed)  # the 市民满意度 survey, two waves
    places_truth = places.truth(seed)  # parks, residential areas and green land (GeoJSON, see write_places)
    for tid in [*assets_truth["targets"], *places_truth["targets"]]:  # computed from the records / layers
        plan_truth["targets"][tid]["road"] = "table"
    frames = {
        # the demo city's units, then the province's other cities (donors for the city-wide campaign)
        "districts": pd.concat([units.districts_frame(), citywide.cities_frame()], ignore_index=True),
        "unit_changes": units.unit_changes_frame(),
        "dust_samples": dust_df,
        "communities": comm_df,
        "assessments": ass_df,
        "campaigns": campaigns.campaigns_frame(),
        "observations": pd.concat([obs_df, plan_df], ignore_index=True),
        "assets": assets_df,
        "inspections": inspections_df,
        "survey_responses": survey_df,
    }
    parts = {"units": units.truth(), "campaigns": campaigns.truth(), "dust": dust_truth,
             "communities": comm_truth, "assessments": ass_truth, "plan_targets": plan_truth,
             "assets": assets_truth, "places": places_truth,
             "survey": survey_truth}
    return {k: writing.from_pandas(k, v) for k, v in frames.items()}, parts


def _truth_dict(seed: int, plan: cases.Plan, small: dict[str, pa.Table], parts: dict) -> dict:
    rows = {name: (plan.n_cases if name == "cases" else small[name].num_rows) for name in TABLES}
    return truth_file.build(seed=seed, n_cases=plan.n_cases, tables=rows,
                        parts={"units": parts["units"], "cases": cases.truth(plan), **parts})


def generate(seed: int = DEFAULT_SEED, n_cases: int | None = None) -> dict[str, pd.DataFrame]:
    """All tables in memory with the canonical dtypes (use write_demo for millions of cases)."""
    small, _ = _small(seed)
    plan = cases.plan(seed, _n(n_cases))
    chunks = list(cases.chunks(plan)) or [writing.arrow_schema("cases").empty_table()]
    arrow = {**small, "cases": pa.concat_tables(chunks)}
    return {name: writing.to_pandas(name, arrow[name]) for name in TABLES}


def generate_truth(seed: int = DEFAULT_SEED, n_cases: int | None = None) -> dict:
    """The content of truth.json for this seed and case count, without writing anything."""
    small, parts = _small(seed)
    return _truth_dict(seed, cases.plan(seed, _n(n_cases)), small, parts)


def write_demo(out_dir: str | Path, seed: int = DEFAULT_SEED, n_cases: int | None = None,
               fmt: str = "parquet") -> dict[str, Path]:
    """Write one file per canonical table, truth.json and README.txt into out_dir."""
    if fmt not in writing.FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(writing.FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    small, parts = _small(seed)
    plan = cases.plan(seed, _n(n_cases))
    files: dict[str, Path] = {}
    for name in TABLES:
        if name == "cases":
            with writing.TableWriter(out, name, fmt) as w:
                for chunk in cases.chunks(plan):  # streamed: one row group per chunk
                    w.write(chunk)
            files[name] = w.path
        else:
            files[name] = writing.write_table(out, name, small[name], fmt)
    files["truth"] = writing.write_truth(out, _truth_dict(seed, plan, small, parts))
    # the place layers beside the units' synthetic boundaries (GeoJSON, not canonical tables)
    from .boundaries import write_boundaries

    write_boundaries(out)
    places.write_places(out, seed)
    writing.write_readme(out, seed=seed, n_cases=plan.n_cases, fmt=fmt,
                         files={k: v for k, v in files.items() if k != "truth"}, city=units.CITY_NAME,
                         start=str(timeline.START.date()), end=str(timeline.END.date()))
    return files
