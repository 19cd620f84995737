from cityanalytics import realdata


def test_world_bank_loads_without_rejections():
    frame, report = realdata.world_bank_cities()
    assert report.rows_rejected == 0
    assert report.rows_read == len(frame) > 1000
    assert frame["unit_id"].str.startswith("CHN:").any()
    assert frame["source"].str.contains("What a Waste 2.0").all()


def test_beijing_waste_per_capita_from_the_raw_figures():
    frame, _ = realdata.world_bank_cities()
    beijing = frame[frame["unit_id"] == "CHN:Beijing"].set_index("indicator")
    assert beijing.loc["msw_generated_tons_year", "value"] == 7_903_000
    assert beijing.loc["population", "value"] == 20_384_000
    assert beijing.loc["msw_generated_tons_year", "period"] == "2015"
    per_capita = realdata.msw_per_capita(frame).set_index("unit_id")["msw_kg_per_capita_day"]
    # 7,903,000 t/year * 1000 kg/t / 365 days / 20,384,000 people
    assert abs(per_capita["CHN:Beijing"] - 1.0622) < 1e-4


def test_thousands_separators_in_the_raw_file_are_parsed():
    frame, _ = realdata.world_bank_cities()
    assert (frame["value"] == 100_000).any()


def test_pilot_cities():
    cities = realdata.pilot_cities()
    assert len(cities) == 46
    assert {"北京", "上海"} <= set(cities["city_zh"])
    assert cities.set_index("city_en").loc["Shanghai", "local_regulation_effective"] == "2019-07-01"
