"""Region-level scoring of splits and rate maps against the simulator's flaring regions."""
import numpy as np
import pandas as pd
import pytest

from flarelib.data.store import open_store
from flarelib.errors import InputError
from flarelib.explain.evaluation import simulator_truth
from flarelib.explain.region_scores import rate_map_region_rows, region_level_scores, region_rows, spread_cell_rates
from flarelib.io.geometry import disk_mask
from flarelib.sim.simulator import SimConfig, simulate_to_store


def test_a_cells_rate_goes_to_its_region_pixels_and_the_total_is_kept():
    disk = disk_mask(8, (3.5, 3.5), 3.6)
    labels = np.zeros((8, 8), int)
    labels[1, 1] = 7  # one region pixel in cell (0, 0)
    lr = np.log(np.array([[2.0, 1.0], [0.5, 0.25]]))
    m = spread_cell_rates(lr, labels, disk)
    assert m[1, 1] == pytest.approx(2.0) and m[:4, :4].sum() == pytest.approx(2.0)  # all of cell (0, 0) on its region
    assert m.sum() == pytest.approx(np.exp(lr).sum())
    assert (m[~disk] == 0).all()
    with pytest.raises(InputError, match="tile"):
        spread_cell_rates(np.zeros((3, 3)), labels, disk)


def test_region_rows_and_scores_of_a_perfect_and_a_reversed_map():
    labels = np.zeros((6, 6), int)
    labels[:2, :2], labels[4:, 4:] = 1, 2
    good, bad = np.zeros((6, 6)), np.zeros((6, 6))
    good[0, 0], bad[5, 5] = 1.0, 1.0
    rows, inst = [], []
    for i in range(40):
        flares = i % 2 == 0  # region 1 flares on even instances
        rows += region_rows(i, {"good": good, "bad": bad, "empty": np.zeros((6, 6))}, labels, 0.8 if flares else 0.2,
                            {1} if flares else set())
        inst.append({"instance": i, "region_id": 1 if flares else 0, "cluster": f"c{i // 4}"})
    regions, instances = pd.DataFrame(rows), pd.DataFrame(inst)
    assert set(regions.groupby(["map", "instance"]).size()) == {2}
    assert not regions[regions["map"] == "empty"]["top"].any()  # an empty map ranks nothing
    sc = region_level_scores(regions, instances, ["good", "bad"], n_boot=50).set_index("map")
    assert sc.loc["good", "auc"] == 1.0 and sc.loc["good", "top_region_hit"] == 1.0 and sc.loc["good", "tss_top_region"] == 1.0
    assert sc.loc["bad", "top_region_hit"] == 0.0 and sc.loc["bad", "auc"] < 0.5
    assert sc.loc["good", "auc_lo"] <= sc.loc["good", "auc"] <= sc.loc["good", "auc_hi"]
    with pytest.raises(InputError, match="labels"):
        region_rows(0, {"x": np.zeros((5, 5))}, labels, 0.5, set())


def test_rate_maps_on_a_simulated_store(tmp_path):
    path = simulate_to_store(SimConfig(start="2012-03-01", end="2012-05-31", cadence_h=72, size_px=128, seed=2), tmp_path / "s",
                             workers=1, progress=False)
    st = open_store(path)
    sim, cat = simulator_truth(st)
    n = len(st.index)
    flat = np.zeros((n, 4, 4))
    regions, inst = rate_map_region_rows(st, sim, cat, {"rate map": flat}, np.full(n, 0.6), np.arange(0, n, 2), progress=False)
    assert set(regions["map"]) == {"rate map", "abs_field", "uniform"} and len(inst) == len(range(0, n, 2))
    shares = regions.groupby(["map", "instance"])["share"].sum()
    assert (shares <= 1 + 1e-9).all() and (shares > 0).all()
    assert np.allclose(regions["p_region"], 0.6 * regions["share"])
    sc = region_level_scores(regions, inst, n_boot=20)
    assert set(sc["map"]) == {"rate map", "abs_field", "uniform"}
