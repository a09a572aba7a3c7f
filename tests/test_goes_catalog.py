"""GOES classes and flare catalogs: parsing both ways, both schemas, malformed rows reported."""
import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flarelib.errors import CatalogError, GoesClassError
from flarelib.io.catalog import catalog_from_frame, read_catalog
from flarelib.io.goes import format_goes_class, goes_letter, parse_goes_class


@pytest.mark.parametrize("text,flux", [("M1.0", 1e-5), ("X9.3", 9.3e-4), ("X10", 1e-3), ("B2.1", 2.1e-7),
                                       ("m1.0", 1e-5), (" C 2.5 ", 2.5e-6), ("X28", 2.8e-3), ("M", 1e-5)])
def test_parse_goes_class(text, flux):
    assert parse_goes_class(text) == pytest.approx(flux)


@pytest.mark.parametrize("bad", ["", "Z1", "M-1", "MX", "M0", "1.0", "M1.0.2", "  "])
def test_bad_goes_classes_are_rejected(bad):
    with pytest.raises(GoesClassError):
        parse_goes_class(bad)


def test_format_goes_class():
    assert format_goes_class(1e-5) == "M1.0"
    assert format_goes_class(9.3e-4) == "X9.3"
    assert format_goes_class(1.2e-3) == "X12.0"
    assert format_goes_class(9.99e-6) == "M1.0"
    assert goes_letter(float("nan")) == ""


@given(st.sampled_from("ABCMX"), st.floats(min_value=1.0, max_value=9.9))
def test_class_round_trip(letter, mult):
    text = f"{letter}{mult:.1f}"
    assert format_goes_class(parse_goes_class(text)) == text


@given(st.text(max_size=8))
def test_parser_never_crashes_otherwise(text):
    try:
        v = parse_goes_class(text)
    except GoesClassError:
        return
    assert v > 0 and math.isfinite(v)


SWAN = """start_time,peak_time,end_time,goes_class,fl_lon,fl_lat,noaa_active_region
2012-03-07 00:02:00,2012-03-07 00:24:00,2012-03-07 00:40:00,X5.4,-27,17,11429
2012-03-05 02:30:00,2012-03-05 04:09:00,2012-03-05 04:43:00,X1.1,-52,19,11429
2012-03-06 12:23:00,2012-03-06 12:41:00,2012-03-06 12:54:00,m2.1,,,0
"""

HEK = """event_starttime,event_peaktime,event_endtime,fl_goescls,hgs_x,hgs_y,ar_noaanum
2017-09-06T11:53:00,2017-09-06T12:02:00,2017-09-06T12:10:00,X9.3,34,-9,12673
2017-09-10T15:35:00,2017-09-10T16:06:00,2017-09-10T16:31:00,X8.2,88,-9,12673
"""


def test_swan_schema(tmp_path):
    p = tmp_path / "swan.csv"
    p.write_text(SWAN)
    cat = read_catalog(p)
    t = cat.table
    assert list(t["goes_class"]) == ["X1.1", "M2.1", "X5.4"]  # sorted by start
    assert t["peak_flux_wm2"].iloc[2] == pytest.approx(5.4e-4)
    assert math.isnan(t["lon_deg"].iloc[1]) and t["noaa_ar"].iloc[0] == 11429


def test_hek_schema(tmp_path):
    p = tmp_path / "hek.csv"
    p.write_text(HEK)
    cat = read_catalog(p)
    assert list(cat.table["goes_class"]) == ["X9.3", "X8.2"]
    assert cat.table["lon_deg"].tolist() == [34, 88]


def test_malformed_rows_raise_with_count_and_examples(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text(SWAN + "2012-03-09 03:22:00,2012-03-09 03:53:00,2012-03-09 04:18:00,Z9.9,0,0,0\n"
                        "not a time,,,M1.0,0,0,0\n")
    with pytest.raises(CatalogError) as e:
        read_catalog(p)
    msg = str(e.value)
    assert "bad.csv" in msg and "2 malformed row(s)" in msg and "Z9.9" in msg


def test_malformed_rows_are_reported_not_kept(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text(SWAN + "2012-03-09 03:22:00,2012-03-09 03:53:00,2012-03-09 04:18:00,M-1,0,0,0\n")
    with pytest.warns(UserWarning, match="1 malformed row"):
        cat = read_catalog(p, on_bad_rows="report")
    assert len(cat) == 3 and len(cat.rejected) == 1 and cat.rejected["row"].iloc[0] == 3


def test_unknown_schema_and_missing_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(CatalogError, match="unknown catalog schema"):
        read_catalog(p)
    with pytest.raises(CatalogError, match="no such catalog"):
        read_catalog(tmp_path / "none.csv")


@given(st.lists(st.tuples(st.sampled_from(["M1.0", "X2", "C3.3", "Z1", "", "M-2", "B9.9"]),
                          st.floats(-200, 200, allow_nan=False)), max_size=15))
def test_every_row_is_either_kept_or_rejected(rows):
    raw = pd.DataFrame({"start_time": ["2012-01-01 00:00"] * len(rows), "goes_class": [r[0] for r in rows],
                        "fl_lon": [r[1] for r in rows], "fl_lat": [0.0] * len(rows)})
    cat = catalog_from_frame(raw, schema="swan") if rows else None
    if cat is not None:
        assert len(cat.table) + len(cat.rejected) == len(rows)
        assert (cat.table["lon_deg"].abs() <= 180).all()


def test_a_junk_time_field_is_refused_at_once_and_never_replaced_by_the_start(tmp_path):
    import time

    p = tmp_path / "junk.csv"
    p.write_text(SWAN + "2012-03-09 03:22:00,2012-03-09 03:53:00," + "x" * 4_000_000 + ",M1.0,0,0,0\n"
                 "2012-03-10 03:22:00,2012-03-10 03:53:00,soon,M2.0,0,0,0\n")
    t0 = time.perf_counter()
    with pytest.warns(UserWarning, match="2 malformed row"):
        cat = read_catalog(p, on_bad_rows="report")
    assert time.perf_counter() - t0 < 10  # pandas' parser would take minutes on 4 MB
    reasons = cat.rejected["reason"].tolist()
    assert all("unreadable end time" in r for r in reasons) and all(len(r) < 200 for r in reasons)
    assert len(cat) == 3  # neither row kept with its end set to its start
