"""Labels: windows, thresholds, partitions and the published index format."""
import json

import pandas as pd
import pytest

from flarelib.data.labels import (
    LabelConfig,
    hourly_instants,
    make_index,
    partition_of,
    partition_summary,
    read_index,
    read_published_index,
    timestamp_from_path,
    write_index,
)
from flarelib.io.catalog import catalog_from_frame

from .conftest import run_cli


def _cat(rows):
    return catalog_from_frame(pd.DataFrame(rows, columns=["start_time", "goes_class", "fl_lon", "fl_lat"]), schema="swan")


def test_window_is_half_open_after_the_instant():
    cat = _cat([("2014-01-02 00:00", "M1.0", 10, 5), ("2014-01-01 00:00", "X1.0", 80, -10)])
    idx, rep = make_index(hourly_instants("2014-01-01 00:00", "2014-01-02 00:00"), cat)
    row = idx.set_index("timestamp")
    # a flare starting exactly at t is not in (t, t+24h]; one starting at t+24h is
    assert row.loc["2014-01-01 00:00", "max_class"] == "M1.0" and row.loc["2014-01-01 00:00", "target"] == 1
    assert row.loc["2014-01-01 01:00", "target"] == 1
    assert row.loc["2014-01-02 00:00", "target"] == 0 and row.loc["2014-01-02 00:00", "n_flares"] == 0
    assert rep["n_flare"] + rep["n_noflare"] == rep["n_indexed"] == 25


def test_largest_flare_and_its_location_are_kept():
    cat = _cat([("2014-01-01 03:00", "C5.0", -30, 10), ("2014-01-01 05:00", "M2.0", 75, -20), ("2014-01-01 06:00", "B1.0", 0, 0)])
    idx, _ = make_index([pd.Timestamp("2014-01-01 00:00")], cat)
    r = idx.iloc[0]
    assert r.max_class == "M2.0" and r.fl_lon == 75 and r.fl_lat == -20
    assert json.loads(r.flares) == ["M2.0", "C5.0", "B1.0"] and r.n_flares == 3


def test_threshold_and_window_are_configurable():
    cat = _cat([("2014-01-01 30:00".replace("30:00", "06:00"), "C5.0", 0, 0)])
    t = [pd.Timestamp("2014-01-01 00:00")]
    assert make_index(t, cat)[0]["target"].iloc[0] == 0
    assert make_index(t, cat, LabelConfig(threshold_wm2=1e-6))[0]["target"].iloc[0] == 1
    assert make_index(t, cat, LabelConfig(window_h=3))[0]["n_flares"].iloc[0] == 0


def test_instants_without_image_are_left_out_and_counted():
    cat = _cat([])
    times = hourly_instants("2014-01-01", "2014-01-01 03:00")
    paths = {times[0]: "a.jp2", times[2]: "c.jp2"}
    idx, rep = make_index(times, cat, image_paths=paths)
    assert list(idx["path"]) == ["a.jp2", "c.jp2"] and rep["n_missing_image"] == 2


def test_partitions_are_tri_monthly():
    t = pd.to_datetime(["2012-01-31", "2012-03-31 23:00", "2012-04-01", "2012-09-30", "2012-10-01", "2012-12-31"], format="mixed")
    assert partition_of(t).tolist() == [1, 1, 2, 3, 4, 4]


def test_timestamps_from_names():
    assert timestamp_from_path("2011/01/01/HMI.m2011.01.01_00.00.00.jpg") == pd.Timestamp("2011-01-01 00:00")
    assert timestamp_from_path("/x/2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2") == pd.Timestamp("2022-08-02 10:47:53")
    with pytest.raises(ValueError):
        timestamp_from_path("nothing_here.png")


def test_index_round_trip(tmp_path):
    cat = _cat([("2014-01-01 03:00", "C5.0", -30, 10)])
    idx, _ = make_index(hourly_instants("2014-01-01", "2014-01-01 05:00"), cat)
    write_index(idx, tmp_path / "i.csv")
    back = read_index(tmp_path / "i.csv")
    pd.testing.assert_frame_equal(back[idx.columns].reset_index(drop=True), idx.reset_index(drop=True), check_dtype=False)


def test_published_labels_give_the_papers_counts(pandey):
    idx = pd.concat([read_published_index(pandey / "labels" / f"Fold{k}_val.csv") for k in (1, 2, 3, 4)])
    s = partition_summary(idx)
    assert s["total"] == 63649
    assert [(s["partitions"][k]["FL"], s["partitions"][k]["NF"]) for k in "1234"] == [(2334, 12454), (1612, 13855), (2364, 14308), (2690, 14032)]
    # the published target agrees with the largest class of the window (>= M1.0)
    assert ((idx["peak_flux_wm2"].fillna(0) >= 1e-5).astype(int) == idx["target"]).all()
    # fold k holds exactly partition k
    one = read_published_index(pandey / "labels" / "Fold3_val.csv")
    assert set(one["partition"]) == {3}


def test_cli_labels_summary_on_published(pandey):
    r = run_cli("labels", "summary", *sorted((pandey / "labels").glob("Fold*_val.csv")), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d == {"partitions": {"1": {"FL": 2334, "NF": 12454}, "2": {"FL": 1612, "NF": 13855},
                                "3": {"FL": 2364, "NF": 14308}, "4": {"FL": 2690, "NF": 14032}}, "total": 63649}


def test_cli_labels_make_and_summary(tmp_path):
    (tmp_path / "cat.csv").write_text("start_time,peak_time,end_time,goes_class,fl_lon,fl_lat,noaa_active_region\n"
                                      "2014-02-01 10:00:00,2014-02-01 10:10:00,2014-02-01 10:20:00,M3.0,20,10,1\n")
    r = run_cli("labels", "make", "--catalog", tmp_path / "cat.csv", "--out", tmp_path / "idx.csv",
                "--start", "2014-01-31", "--end", "2014-02-02", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["n_flare"] == 24 and rep["n_indexed"] == 49
    r = run_cli("labels", "summary", tmp_path / "idx.csv", "--json")
    assert json.loads(r.stdout)["partitions"]["1"] == {"FL": 24, "NF": 25}


def test_cli_bad_catalog_row_exit_2(tmp_path):
    (tmp_path / "cat.csv").write_text("start_time,goes_class,fl_lon,fl_lat\n2014-02-01 10:00:00,Q1,0,0\n")
    r = run_cli("labels", "make", "--catalog", tmp_path / "cat.csv", "--out", tmp_path / "i.csv")
    assert r.returncode == 2 and "cat.csv" in r.stderr and "Q1" in r.stderr
