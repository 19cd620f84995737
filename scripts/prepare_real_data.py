"""Rebuild cityanalytics/data/real/ from the public source files.

World Bank "What a Waste 2.0" city-level data (CC BY 3.0 IGO, Kaza et al. 2018) is reshaped
into the canonical `observations` table: one row per city, indicator and year, each value
with its year and source from the codebook where the codebook gives them. The 46 cities of
the 2017 mandatory-sorting pilot are copied as they are.

    .venv/bin/python scripts/prepare_real_data.py [--source DIR]

DIR holds the downloads as published: the World Bank's city-level data and codebook
(``city_level_data_0_0.csv``, ``city_level_codebook_0.csv``, What a Waste 2.0 on the World Bank
data catalogue) and the pilot-city list (``pilot_cities_46.csv``); default: ``../shared/data/real``
beside the project folder.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "cityanalytics" / "data" / "real"
CITATION = "Kaza et al. (2018), What a Waste 2.0, World Bank, CC BY 3.0 IGO"

# raw column -> (indicator id, unit); the codebook gives year and source for the first two.
INDICATORS = {
    "population_population_number_of_people": ("population", "人"),
    "total_msw_total_msw_generated_tons_year": ("msw_generated_tons_year", "t/年"),
    "waste_collection_coverage_total_percent_of_population_percent_of_population":
        ("waste_collection_coverage_population", "%"),
    "waste_treatment_recycling_percent": ("waste_recycling_share", "%"),
    "composition_food_organic_waste_percent": ("waste_food_organic_share", "%"),
}


def build(source: Path) -> pd.DataFrame:
    # The files are UTF-8 (reading them as Latin-1 turns "1950–2030" into mojibake).
    data = pd.read_csv(source / "city_level_data_0_0.csv", encoding="utf-8")
    codebook = pd.read_csv(source / "city_level_codebook_0.csv", encoding="utf-8")
    codebook = codebook.drop_duplicates(["iso3c", "city_name", "measurement"])
    rows = []
    for column, (indicator, unit) in INDICATORS.items():
        part = data[["iso3c", "country_name", "city_name", column]].dropna(subset=[column])
        part = part.merge(
            codebook[codebook["measurement"] == column][["iso3c", "city_name", "year", "source"]],
            on=["iso3c", "city_name"], how="left",
        )
        for r in part.itertuples(index=False):
            year = "" if pd.isna(r.year) else str(int(r.year))
            source = CITATION + (f"; original source: {r.source}" if isinstance(r.source, str) else
                                 "; year of the value not given by the data set")
            rows.append({
                "unit_id": f"{r.iso3c}:{r.city_name}",
                "unit_name": f"{r.city_name}, {r.country_name}",
                "period": year or "2010-2017",
                "indicator": indicator,
                "value": str(getattr(r, column)),  # parsed by the loader ("100,000")
                "unit": unit,
                "source": source,
            })
    return pd.DataFrame(rows).sort_values(["unit_id", "indicator"], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", "--shared", dest="source", type=Path,
                        default=ROOT.parent / "shared" / "data" / "real", help="folder of the downloaded source files")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    build(args.source).to_csv(OUT / "world_bank_cities.csv", index=False, encoding="utf-8")
    shutil.copyfile(args.source / "pilot_cities_46.csv", OUT / "pilot_cities_46.csv")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
