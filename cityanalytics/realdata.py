"""Real public data shipped with the package, loaded through the same loaders as any export."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from cityanalytics.io import LoadResult, load

ATTRIBUTION = ("World Bank, What a Waste 2.0 (Kaza et al. 2018), CC BY 3.0 IGO; "
               "2017 mandatory-sorting pilot cities: public list")


def real_data_path(name: str) -> Path:
    return Path(str(resources.files("cityanalytics").joinpath("data", "real", name)))


def world_bank_cities() -> LoadResult:
    """What a Waste 2.0 city indicators as an ``observations`` table (with its load report)."""
    return load(real_data_path("world_bank_cities.csv"), "observations")


def msw_per_capita(observations: pd.DataFrame) -> pd.DataFrame:
    """Municipal solid waste generated per resident per day (kg), per city.

    Computed only where both the tonnage and the population are given.
    """
    wide = observations.pivot_table(index=["unit_id", "unit_name"], columns="indicator", values="value",
                                    aggfunc="first")
    both = wide.dropna(subset=["msw_generated_tons_year", "population"])
    kg = both["msw_generated_tons_year"] * 1000 / 365 / both["population"]
    return kg.rename("msw_kg_per_capita_day").reset_index()


def pilot_cities() -> pd.DataFrame:
    """The 46 cities of the 2017 mandatory household-waste sorting pilot."""
    return pd.read_csv(real_data_path("pilot_cities_46.csv"), dtype=str, encoding="utf-8")
