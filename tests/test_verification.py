"""Verification: skill scores against hand-computed tables, refusals, baselines, intervals, calibration, honest selection."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from flarelib.data.labels import read_index
from flarelib.errors import InputError
from flarelib.model.training import TrainConfig, train_fold
from flarelib.sim.simulator import SimConfig, simulate_to_store
from flarelib.verify import baselines
from flarelib.verify.calibration import cross_fit, fit_calibrator
from flarelib.verify.evaluation import evaluate, paired_tss_difference, train_optimal_thresholds, verification_row
from flarelib.verify.metrics import (
    appleman_skill_score,
    best_threshold,
    brier_skill_score,
    check_probabilities,
    check_targets,
    equitable_threat_score,
    event_recall,
    false_alarm_ratio,
    frequency_bias,
    gini,
    limb_masks,
    pofd,
    recall_by_class_and_region,
    reliability,
    roc_auc,
    skill_by_year,
    skill_scores,
)
from flarelib.verify.uncertainty import bootstrap_scores, day_blocks, flare_ids, interval_verdict, stratified_skill

from .conftest import run_cli

# --------------------------------------------------------------------------- scores, as a family (scikit-learn style)


def test_skill_scores_of_a_hand_computed_table():
    # TP 3, FP 2, FN 1, TN 4
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])
    s = skill_scores(y, p)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (3, 2, 1, 4)
    assert s["tss"] == pytest.approx(3 / 4 - 2 / 6)
    assert s["hss"] == pytest.approx(2 * (3 * 4 - 1 * 2) / ((3 + 1) * (1 + 4) + (3 + 2) * (2 + 4)))


def _table(tp, fp, fn, tn):
    y = np.r_[np.ones(tp + fn), np.zeros(fp + tn)].astype(int)
    pred = np.r_[np.ones(tp), np.zeros(fn), np.ones(fp), np.zeros(tn)].astype(int)
    return y, pred


def test_the_standard_verification_set_of_a_hand_computed_table():
    # TP 20, FP 30, FN 10, TN 140: 30 events in 200, 50 yes forecasts
    y, pred = _table(20, 30, 10, 140)
    assert pofd(y, pred) == pytest.approx(30 / 170)
    assert false_alarm_ratio(y, pred) == pytest.approx(30 / 50)
    assert frequency_bias(y, pred) == pytest.approx(50 / 30)
    # accuracy 0.80 against 0.85 for "never": (0.80 - 0.85) / 0.15, i.e. (TP - FP) / events
    assert appleman_skill_score(y, pred) == pytest.approx(-1 / 3)
    # 7.5 hits by chance: (20 - 7.5) / (20 + 30 + 10 - 7.5)
    assert equitable_threat_score(y, pred) == pytest.approx(12.5 / 52.5)
    s = skill_scores(y, pred)
    assert s["apss"] == pytest.approx(-1 / 3) and s["false_alarm_ratio"] == pytest.approx(0.6)
    assert s["far"] == s["pofd"] == pytest.approx(30 / 170)  # the older key is the rate, not the ratio
    # when events are the commoner outcome the reference forecast is "always"
    y2, pred2 = _table(140, 10, 30, 20)
    assert appleman_skill_score(y2, pred2) == pytest.approx((160 / 200 - 170 / 200) / (30 / 200))
    assert appleman_skill_score(*_table(30, 0, 0, 170)) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    yy, pp = rng.integers(0, 2, 300), rng.random(300)
    assert gini(yy, pp) == pytest.approx(2 * roc_auc(yy, pp) - 1)


def test_reliability_counts_and_shares_every_instance():
    rng = np.random.default_rng(0)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    t = reliability(y, p, 20)
    assert len(t) == 20 and t["count"].sum() == 1000 and t["share"].sum() == pytest.approx(1.0)
    assert t.loc[19, "bin_lo"] == pytest.approx(0.95)


def test_limbs_are_told_apart_and_flares_behind_them_kept_out():
    lon = np.array([-95.0, -80.0, -10.0, 0.0, 75.0, 89.0, 91.0, np.nan])
    m = limb_masks(lon)
    assert m["east"].tolist() == [False, True, False, False, False, False, False, False]
    assert m["west"].tolist() == [False, False, False, False, True, True, False, False]
    assert m["behind"].tolist() == [True, False, False, False, False, False, True, False]
    df = pd.DataFrame({"fl_lon": lon, "max_class": ["X1.0"] * 7 + [""], "pred": [1, 1, 0, 1, 0, 1, 1, 0]})
    r = recall_by_class_and_region(df)["X"]
    assert (r["n_east"], r["n_west"], r["n_limb"], r["n_behind"], r["n_central"]) == (1, 2, 3, 2, 2)
    assert r["east_recall"] == 1.0 and r["west_recall"] == 0.5 and r["limb_recall"] == pytest.approx(2 / 3)
    assert r["behind_recall"] == 1.0


def test_event_recall_counts_each_flare_once_and_knows_a_first_flare():
    t = pd.date_range("2012-01-01", periods=8, freq="12h")
    df = pd.DataFrame({"timestamp": t, "max_class": ["M1.0", "M1.0", "M2.0", "M2.0", "", "", "X1.0", "X1.0"],
                       "pred": [0, 1, 0, 0, 0, 0, 0, 0]})
    ids = np.array([0, 0, 1, 1, -1, -1, 2, 2])
    r = event_recall(df, ids)
    assert (r["all"]["n_flares"], r["all"]["detected"]) == (3, 1)
    assert (r["M"]["n_flares"], r["M"]["detected"], r["X"]["detected"]) == (2, 1, 0)
    # flare 1 follows flare 0 within 24 h: not a first flare; flare 2 comes 36 h after flare 1's last window
    assert (r["all"]["n_first"], r["all"]["first_detected"]) == (2, 1)


def test_skill_by_year_splits_the_instants():
    t = pd.to_datetime(["2011-06-01", "2011-07-01", "2011-08-01", "2012-06-01", "2012-07-01", "2012-08-01"])
    df = pd.DataFrame({"timestamp": t, "target": [1, 0, 0, 1, 1, 0], "pred": [1, 0, 1, 0, 1, 0], "flare_prob": [.9, .1, .6, .4, .8, .2]})
    tab = skill_by_year(df).set_index("year")
    assert tab.loc[2011, "n"] == 3 and tab.loc[2012, "events"] == 2
    assert tab.loc[2011, "tss"] == pytest.approx(1 - 1 / 2) and tab.loc[2012, "tss"] == pytest.approx(1 / 2 - 0)


def test_the_training_fold_threshold_never_looks_at_its_fold():
    rng = np.random.default_rng(0)
    frames = []
    for k in range(3):
        y = rng.integers(0, 2, 400)
        shift = 0.4 if k == 0 else 0.0  # fold 1's own best threshold is far higher than the others'
        frames.append(pd.DataFrame({"target": y, "flare_prob": np.clip(0.2 + 0.3 * y + shift + 0.1 * rng.random(400), 0, 1)}))
    th = train_optimal_thresholds(frames)
    assert th[0] < 0.6 and best_threshold(frames[0]["target"], frames[0]["flare_prob"])["threshold"] > 0.6
    frames[0]["flare_prob"] = 1.0 - frames[0]["flare_prob"]  # changing fold 1 leaves its own threshold alone
    assert train_optimal_thresholds(frames)[0] == th[0]
    with pytest.raises(InputError, match="two folds"):
        train_optimal_thresholds(frames[:1])


def test_scores_do_not_depend_on_sample_order():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    perm = rng.permutation(200)
    assert skill_scores(y, p >= 0.5) == skill_scores(y[perm], p[perm] >= 0.5)
    assert roc_auc(y, p) == pytest.approx(roc_auc(y[perm], p[perm]))
    assert brier_skill_score(y, p) == pytest.approx(brier_skill_score(y[perm], p[perm]))


def test_best_threshold_is_the_exact_optimum():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.35 * y + rng.normal(0.3, 0.2, 500), 0, 1)
    b = best_threshold(y, p)
    brute = max(skill_scores(y, p >= t)["tss"] for t in np.unique(p))
    assert b["tss"] == pytest.approx(brute, abs=1e-12)
    assert skill_scores(y, p >= b["threshold"])["tss"] == pytest.approx(b["tss"])


def test_degenerate_inputs():
    assert np.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))  # one class: no ranking to judge
    assert np.isnan(best_threshold([0, 0], [0.1, 0.2])["tss"])
    assert skill_scores([0, 0, 1], [0, 0, 0])["tss"] == 0.0  # a constant "no" has no skill


@pytest.mark.parametrize("bad", [[0.2, 1.5], [0.2, -0.7], [0.2, float("nan")], []])
def test_impossible_probabilities_are_refused(bad):
    with pytest.raises(InputError):
        check_probabilities(bad)


@pytest.mark.parametrize("bad", [[0, 2], [0, -1], [0, float("nan")], []])
def test_impossible_targets_are_refused(bad):
    with pytest.raises(InputError):
        check_targets(bad)


def test_evaluate_cli_refuses_a_probability_of_1_5(tmp_path):
    f = tmp_path / "p.csv"
    pd.DataFrame({"timestamp": ["2012-01-01 00:00:00", "2012-01-01 01:00:00"], "flare_prob": [0.2, 1.5], "target": [0, 1]}).to_csv(f, index=False)
    r = run_cli("evaluate", f)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "p.csv" in r.stderr and "flare_prob" in r.stderr and "row 2" in r.stderr


# --------------------------------------------------------------------------- uncertainty


def test_flare_ids_join_the_windows_of_one_flare():
    t = pd.date_range("2014-01-01", periods=6, freq="h")
    f = pd.DataFrame({"timestamp": t, "max_class": ["X1.0", "X1.0", "X1.0", "", "M2.0", "M2.0"],
                      "fl_lon": [75.0, 75.0, 75.0, np.nan, -80.0, 10.0], "fl_lat": [10.0] * 3 + [np.nan] + [-5.0, -5.0]})
    ids = flare_ids(f)
    assert ids[0] == ids[1] == ids[2] and ids[3] == -1 and len({ids[0], ids[4], ids[5]}) == 3


def test_block_bootstrap_interval_contains_the_estimate_and_widens_with_blocks():
    rng = np.random.default_rng(0)
    t = pd.date_range("2012-01-01", periods=24 * 400, freq="h")
    # daily targets, and forecast errors that persist for 10-day spells (as a model's do over a region's life)
    y = np.repeat(rng.integers(0, 2, 400), 24)
    wrong = np.repeat(rng.random(40) < 0.3, 240)
    p = np.where(wrong, 1 - y, y) * 0.8 + 0.1
    f = pd.DataFrame({"timestamp": t, "target": y, "flare_prob": p})
    r1 = bootstrap_scores([f], 0.5, n_boot=200, block_days=1)
    r7 = bootstrap_scores([f], 0.5, n_boot=200, block_days=7)
    tss = skill_scores(y, p >= 0.5)["tss"]
    assert r7["tss_ci"][0] <= tss <= r7["tss_ci"][1]
    assert np.diff(r7["tss_ci"])[0] > np.diff(r1["tss_ci"])[0]
    assert (day_blocks(t[:48], 1) == np.repeat([0, 1], 24) + day_blocks(t[:1], 1)[0]).all()


def test_published_evaluation_with_intervals_and_calibration(pandey):
    preds = [pandey / "predictions" / f"fold{k}_res.csv" for k in (1, 2, 3, 4)]
    labels = [pandey / "labels" / f"Fold{k}_val.csv" for k in (1, 2, 3, 4)]
    r = run_cli("evaluate", *preds, "--labels", *labels, "--bootstrap", "100", "--calibrate", "isotonic", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["tss_ci"][0] < d["tss_mean"] < d["tss_ci"][1] and d["hss_ci"][0] < d["hss_mean"] < d["hss_ci"][1]
    assert d["near_limb"]["X"]["n_flares"] == 12 and d["near_limb"]["X"]["limb_recall_ci"][1] - d["near_limb"]["X"]["limb_recall_ci"][0] > 0.3
    assert round(d["bss"], 2) == -0.13 and d["calibrated"]["bss"] > 0.1  # calibration helps, cross-fitted


def test_cross_fitted_calibration_never_sees_its_own_fold():
    rng = np.random.default_rng(3)
    ys = [rng.integers(0, 2, 300) for _ in range(3)]
    ps = [np.clip(0.5 + 0.4 * y - 0.2 + rng.normal(0, 0.1, 300), 0, 1) for y in ys]  # overforecasts
    a = cross_fit(ys, ps)
    ys2 = [ys[0], ys[1], 1 - ys[2]]  # change fold 3's outcomes: fold 3's calibrated values must not move
    b = cross_fit(ys2, ps)
    assert np.array_equal(a[2], b[2]) and not np.array_equal(a[0], b[0])
    raw = brier_skill_score(np.concatenate(ys), np.concatenate(ps))
    cal = brier_skill_score(np.concatenate(ys), np.concatenate(a))
    assert cal > raw
    platt = fit_calibrator(ys[0], ps[0], "platt")
    assert np.all(np.diff(platt(np.linspace(0, 1, 11))) > 0)  # monotone: the ranking is kept


# --------------------------------------------------------------------------- baselines


@pytest.fixture(scope="module")
def published_index(pandey):
    return pd.concat([read_index(pandey / "labels" / f"Fold{k}_val.csv") for k in (1, 2, 3, 4)], ignore_index=True)


def test_persistence_from_the_labels_alone(published_index):
    idx = published_index
    prev = baselines.previous_window(idx)
    # the instant 24 h earlier, when it is in the index, gives the previous window's label
    row = idx.iloc[5000]
    earlier = idx[idx["timestamp"] == row["timestamp"] - pd.Timedelta(hours=24)]
    assert len(earlier) == 1 and prev.loc[5000, "prev_target"] == earlier["target"].iloc[0]
    bf = baselines.persistence(idx)
    assert bf.n_left_out == int(prev["prev_target"].isna().sum()) > 0
    r = evaluate(bf.frames, bf.thresholds)
    assert r["tss_mean"] == pytest.approx(0.42, abs=0.01) and r["hss_mean"] == pytest.approx(0.42, abs=0.02)


def test_baseline_cli_prints_the_evaluate_keys(pandey):
    labels = [pandey / "labels" / f"Fold{k}_val.csv" for k in (1, 2, 3, 4)]
    r = run_cli("baseline", "graded-persistence", "--labels", *labels, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {"tss_mean", "tss_sd", "hss_mean", "hss_sd", "auc", "bss", "folds", "n_left_out"} <= set(d)
    assert d["auc"] > 0.84 and d["tss_mean"] > 0.5  # the previous window's peak flux ranks instants well
    assert all(0 < f["threshold"] < 1 for f in d["folds"])  # chosen on the training folds, per fold


def test_graded_persistence_thresholds_ignore_the_scored_fold(published_index):
    idx = published_index.copy()
    a = baselines.graded_persistence(idx)
    idx.loc[idx["partition"] == 1, "target"] = 1 - idx.loc[idx["partition"] == 1, "target"]  # scramble fold 1's outcomes
    b = baselines.graded_persistence(idx)
    assert a.thresholds[0] == b.thresholds[0]
    assert np.allclose(a.frames[0]["flare_prob"], b.frames[0]["flare_prob"])


def test_paired_difference_of_a_forecast_with_itself_is_zero(published_index):
    bf = baselines.persistence(published_index)
    d = paired_tss_difference(bf.frames, bf.thresholds, bf.frames, bf.thresholds, n_boot=50)
    assert d["difference"] == 0.0 and d["ci"] == [0.0, 0.0]


def test_image_features_see_strong_field_and_the_header_disk():
    img = np.full((64, 64), 127, np.uint8)
    yy, xx = np.mgrid[:64, :64]
    img[(xx - 32) ** 2 + (yy - 32) ** 2 > 28**2] = 0  # sky
    quiet = baselines.magnetogram_features(img, (32.0, 32.0, 28.0))
    spot = img.copy()
    spot[30:34, 20:24] = 255  # +250 G next to
    spot[30:34, 24:28] = 0  # a saturated negative umbra: 0 like the sky, but on the disk
    active = baselines.magnetogram_features(spot, (32.0, 32.0, 28.0))
    assert quiet["strong_area"] == 0 and quiet["pil_flux"] == 0
    assert active["strong_area"] == pytest.approx(np.log1p(32)) and active["pil_flux"] > 0


# --------------------------------------------------------------------------- honest selection


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("vstore") / "sim"
    return simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=48, size_px=64, seed=4), out, workers=1,
                             progress=False)


def _relabel_fold(src, dst, fold: int):
    """A copy of a store whose validation fold has its labels permuted (images and everything else unchanged)."""
    shutil.copytree(src, dst)
    idx = pd.read_csv(dst / "index.csv")
    m = idx["partition"] == fold
    idx.loc[m, "target"] = np.random.default_rng(0).permutation(idx.loc[m, "target"].to_numpy())
    idx.to_csv(dst / "index.csv", index=False)
    assert (pd.read_csv(src / "index.csv")["target"] != idx["target"]).any()


@pytest.mark.parametrize("select", ["final", "inner"])
def test_reported_model_does_not_depend_on_the_reported_folds_labels(small_store, tmp_path, select):
    _relabel_fold(small_store, tmp_path / "relabelled", fold=3)
    cfg = TrainConfig.offline(epochs=3, batch_size=8, max_batches_per_epoch=3, threads=1, select=select, deterministic=True)
    a = train_fold(small_store, 3, cfg, tmp_path / "a", progress=False)
    b = train_fold(tmp_path / "relabelled", 3, cfg, tmp_path / "b", progress=False)
    assert a.reported_epoch == b.reported_epoch
    pa = pd.read_csv(a.dir / "predictions.csv")
    pb = pd.read_csv(b.dir / "predictions.csv")
    assert np.array_equal(pa["flare_prob"].to_numpy(), pb["flare_prob"].to_numpy())
    assert not np.array_equal(pa["target"].to_numpy(), pb["target"].to_numpy())  # the labels did differ
    wa = torch.load(a.dir / "model.pt", weights_only=True)["model"]
    wb = torch.load(b.dir / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_training_into_a_used_folder_needs_resume_or_overwrite(small_store, tmp_path):
    cfg = TrainConfig.offline(epochs=1, batch_size=8, max_batches_per_epoch=1, threads=1)
    train_fold(small_store, 1, cfg, tmp_path, progress=False)
    before = (tmp_path / "fold1" / "model.pt").read_bytes()
    r = run_cli("train", "--store", small_store, "--out", tmp_path, "--fold", "1", "--epochs", "1", "--quiet")
    assert r.returncode == 2 and "--resume" in r.stderr and "--overwrite" in r.stderr
    assert (tmp_path / "fold1" / "model.pt").read_bytes() == before  # nothing lost


def test_inner_selection_carries_a_calibrator_that_forecast_applies(small_store, tmp_path, real_magnetogram):
    cfg = TrainConfig.offline(epochs=2, batch_size=8, max_batches_per_epoch=2, threads=1, select="inner", calibrate="platt")
    r = train_fold(small_store, 2, cfg, tmp_path, progress=False)
    assert "inner_tss" in r.log.columns and r.reported_epoch in (1, 2)
    out = run_cli("forecast", real_magnetogram, "--checkpoint", r.dir / "model.pt", "--json", "--allow-domain-shift")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["calibrated"] is True and d["calibration"] == "platt" and d["model"]["selection"] == "inner"
    assert d["probability"] != d["probability_raw"]
    # a calibrated model's decision threshold is chosen on training data (the inner split), never the paper's 0.5
    card = d["model_card"]
    assert card["calibration"] == "platt" and "inner split" in card["threshold_rule"] and d["decision_threshold_source"].startswith("model")


def test_lagged_activity_counts_only_windows_that_have_ended():
    t = pd.date_range("2012-01-01", periods=400, freq="D")
    rng = np.random.default_rng(3)
    activity = np.repeat(rng.random(20) < 0.5, 20)  # active and quiet 20-day spells
    target = (rng.random(400) < np.where(activity, 0.7, 0.1)).astype(int)
    index = pd.DataFrame({"timestamp": t, "target": target, "partition": np.tile(np.repeat([1, 2, 3, 4], 25), 4),
                          "max_class": "", "fl_lon": np.nan, "fl_lat": np.nan, "peak_flux_wm2": np.nan})
    bf = baselines.lagged_activity(index, days=10)
    assert bf.n_left_out == 11  # the first 10 days plus the lag have no full history
    # each fold's probability is a monotone map of the share of positives among days t-10 .. t-1 (windows ended by t)
    share = pd.Series(target, index=t).shift(1).rolling(10).mean()
    for fr in bf.frames:
        rho = fr["flare_prob"].corr(pd.Series(share.reindex(pd.DatetimeIndex(fr["timestamp"])).to_numpy()), method="spearman")
        assert rho > 0.999
    f = pd.concat(bf.frames).set_index("timestamp").sort_index()
    # day 200's own window (still open at day 200) cannot move its forecast; it moves the next day's
    changed = index.copy()
    changed.loc[200, "target"] = 1 - changed.loc[200, "target"]
    g = pd.concat(baselines.lagged_activity(changed, days=10).frames).set_index("timestamp").sort_index()
    assert g.loc[t[200], "flare_prob"] == f.loc[t[200], "flare_prob"]
    assert g.loc[t[201], "flare_prob"] != f.loc[t[201], "flare_prob"]
    assert roc_auc(f["target"], f["flare_prob"]) > 0.6
    with pytest.raises(InputError, match="history"):
        baselines.lagged_activity(index.iloc[:5], days=10)


def test_the_array_paired_tss_interval_is_the_frame_one():
    from flarelib.verify.metrics import skill_scores
    from flarelib.verify.uncertainty import paired_difference, paired_tss_interval

    rng = np.random.default_rng(3)
    frames = []
    for k in range(3):
        t = pd.date_range("2012-01-01", periods=200, freq="12h") + pd.Timedelta(days=120 * k)
        y = rng.random(200) < 0.25
        frames.append(pd.DataFrame({"timestamp": t, "target": y.astype(int), "a": ((rng.random(200) < 0.3) | y & (rng.random(200) < 0.5)).astype(int),
                                    "b": (rng.random(200) < 0.3).astype(int)}))

    def mean_tss(fr, col):
        return float(np.nanmean([skill_scores(f["target"].to_numpy(), f[col].to_numpy())["tss"] for f in fr]))

    slow = paired_difference(frames, mean_tss, "a", "b", n_boot=200, seed=5)
    fast = paired_tss_interval([f["target"].to_numpy() for f in frames], [f["a"].to_numpy() for f in frames],
                               [f["b"].to_numpy() for f in frames], [f["timestamp"] for f in frames], n_boot=200, seed=5)
    assert fast["difference"] == pytest.approx(slow["difference"], abs=1e-12)
    assert np.allclose(fast["ci"], slow["ci"], atol=1e-12)


def test_the_bootstrap_auc_and_bss_from_multiplicities_are_those_of_the_resampled_rows():
    from flarelib.verify.metrics import brier_skill_score, roc_auc
    from flarelib.verify.uncertainty import _PooledScores

    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.3).astype(int)
    p = np.round(rng.random(500) * 0.5 + 0.3 * y, 2)  # rounded: many ties
    scores = _PooledScores(y, p)
    for _ in range(5):
        rows = rng.integers(0, 500, 500)
        auc, bss = scores.auc_bss(np.bincount(rows, minlength=500))
        assert auc == pytest.approx(roc_auc(y[rows], p[rows]), abs=1e-12)
        assert bss == pytest.approx(brier_skill_score(y[rows], p[rows]), abs=1e-12)
    assert np.isnan(scores.auc_bss(np.bincount(np.flatnonzero(y == 0), minlength=500))[0])


# --------------------------------------------------------------------------- stratified skill, activity levels, verdicts


def test_stratified_skill_of_a_hand_computed_table_and_its_paired_reference():
    t = pd.to_datetime(["2011-06-01", "2011-07-01", "2011-08-01", "2011-09-01", "2012-06-01", "2012-07-01", "2012-08-01", "2012-09-01"])
    a = pd.DataFrame({"timestamp": t[:4], "target": [1, 1, 0, 0], "flare_prob": [.9, .2, .6, .1]})
    b = pd.DataFrame({"timestamp": t[4:], "target": [1, 0, 0, 0], "flare_prob": [.3, .1, .1, .8]})
    # fold a thresholded at 0.5, fold b at 0.25: 2011 yes = 1,0,1,0 -> TSS 1/2 - 1/2 = 0; 2012 yes = 1,0,0,1 -> 1 - 1/3
    ref = [a.assign(flare_prob=[1.0, 1.0, 0.0, 0.0]), b.assign(flare_prob=[0.0, 0.0, 0.0, 0.0])]
    years = [f["timestamp"].dt.year.astype(str) for f in (a, b)]
    tab = stratified_skill([a, b], [0.5, 0.25], years, reference=(ref, 0.5), n_boot=200, seed=1).set_index("stratum")
    assert list(tab.index) == ["2011", "2012"]
    assert tab.loc["2011", "tss"] == pytest.approx(0.0) and tab.loc["2012", "tss"] == pytest.approx(2 / 3)
    assert tab.loc["2011", "reference_tss"] == pytest.approx(1.0) and tab.loc["2012", "reference_tss"] == pytest.approx(0.0)
    assert tab.loc["2011", "difference"] == pytest.approx(-1.0)
    assert tab.loc["2011", "difference_lo"] <= -1.0 + 1e-9 and tab.loc["2012", "tss_lo"] <= tab.loc["2012", "tss_hi"]
    assert tab.loc["2011", "auc"] == pytest.approx(roc_auc([1, 1, 0, 0], [.9, .2, .6, .1]))
    # "" leaves an instant out; an order puts the strata where asked
    tab2 = stratified_skill([a, b], [0.5, 0.25], [["x", "x", "", "x"], ["y"] * 4], n_boot=0, order=("y", "x"))
    assert list(tab2["stratum"]) == ["y", "x"] and tab2.set_index("stratum").loc["x", "n"] == 3
    assert tab2["tss_lo"].isna().all()


def test_activity_terciles_split_by_the_past_labels_only():
    t = pd.date_range("2012-01-01", periods=300, freq="D")
    target = np.r_[np.zeros(100), np.ones(100), np.zeros(100)].astype(int)
    index = pd.DataFrame({"timestamp": t, "target": target})
    levels, edges = baselines.activity_terciles(index, days=10)
    assert (levels.iloc[:11] == "").all()  # no 10 days of ended windows yet
    assert edges[0] <= edges[1]
    # inside the active spell (its windows ended) the level is high; long after it, low
    assert levels.iloc[150] == "high" and levels.iloc[290] == "low"
    rate = baselines.activity_rate(index, days=10)
    assert rate.iloc[150] == pytest.approx(1.0) and np.isnan(rate.iloc[5])
    with pytest.raises(InputError, match="history"):
        baselines.activity_terciles(index.iloc[:5], days=10)


def test_interval_verdict_reads_the_interval_against_zero():
    assert interval_verdict(0.01, 0.2) == "above" and interval_verdict(-0.3, -0.1) == "below"
    assert interval_verdict(-0.1, 0.1) == "not distinguishable from"
    assert interval_verdict(float("nan"), 0.1) == "not compared with"
    assert interval_verdict(0.1, 0.2, above="higher than") == "higher than"


def test_evaluate_json_carries_the_standard_set_matching_an_independent_computation(pandey):
    preds = [pandey / "predictions" / f"fold{k}_res.csv" for k in (1, 2, 3, 4)]
    labels = [pandey / "labels" / f"Fold{k}_val.csv" for k in (1, 2, 3, 4)]
    r = run_cli("evaluate", *preds, "--labels", *labels, "--bootstrap", "20", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    # independent computation from the raw files: numpy only, no flarelib scorer
    raw = []
    for pf, lf in zip(preds, labels):
        pr, lab = pd.read_csv(pf), pd.read_csv(lf)
        raw.append(pd.DataFrame({"y": pr["target"].to_numpy(int), "yes": pr["flare_prob"].to_numpy() >= 0.5,
                                 "p": pr["flare_prob"].to_numpy(float), "t": pd.to_datetime(pr["timestamp"]),
                                 "cls": lab["goes_class"].fillna("").astype(str).str[:1].to_numpy(), "lon": pd.to_numeric(lab["fl_lon"], errors="coerce").to_numpy()}))
    for k, f in enumerate(raw):
        tp, fp = int((f.yes & (f.y == 1)).sum()), int((f.yes & (f.y == 0)).sum())
        fn, tn = int((~f.yes & (f.y == 1)).sum()), int((~f.yes & (f.y == 0)).sum())
        n = tp + fp + fn + tn
        ref = max(tp + fn, fp + tn) / n
        fold = d["folds"][k]
        assert fold["apss"] == pytest.approx(((tp + tn) / n - ref) / (1 - ref))
        assert fold["false_alarm_ratio"] == pytest.approx(fp / (tp + fp)) and fold["pofd"] == pytest.approx(fp / (fp + tn))
        clim = f.y.mean()
        assert fold["bss"] == pytest.approx(1 - np.mean((f.p - f.y) ** 2) / np.mean((clim - f.y) ** 2))
    allf = pd.concat(raw, ignore_index=True)
    assert len(d["reliability"]) == 20 and sum(b["count"] for b in d["reliability"]) == len(allf)
    b0 = d["reliability"][0]
    assert b0["count"] == int((allf.p < 0.05).sum())
    y11 = allf[allf.t.dt.year == 2011]
    rec = y11.yes[y11.y == 1].mean() - y11.yes[y11.y == 0].mean()
    assert {r["year"]: r["tss"] for r in d["by_year"]}[2011] == pytest.approx(rec)
    x = allf[allf.cls == "X"]
    east, west = x[(x.lon < -70) & (x.lon >= -90)], x[(x.lon > 70) & (x.lon <= 90)]
    nl = d["near_limb"]["X"]
    assert (nl["n_east"], nl["n_west"]) == (len(east), len(west)) == (129, 83)
    assert nl["east_recall"] == pytest.approx(east.yes.mean()) and nl["west_recall"] == pytest.approx(west.yes.mean())
    assert d["events"]["all"]["n_flares"] > 100 and 0 < d["events"]["all"]["recall"] <= 1
    acts = pd.DataFrame(d["by_activity"])
    assert list(acts["stratum"]) == ["low", "middle", "high"] and len(d["activity_edges"]) == 2
    assert acts["n"].sum() <= len(allf) and acts["tss_lo"].notna().all()
    years = pd.DataFrame(d["by_year"]).dropna(subset=["tss"])
    assert (years["tss_lo"] <= years["tss"] + 1e-9).all() and (years["tss"] <= years["tss_hi"] + 1e-9).all()
    row = verification_row(d)
    assert row["apss"] == d["pooled"]["apss"] and row["X_n_east"] == 129
    assert row["tss_high"] == acts.iloc[2]["tss"] and row["n_flares"] == d["events"]["all"]["n_flares"]
    assert row["X_n_behind"] == 0  # the real labels have no flare behind the limb


def test_a_score_table_without_resamples_has_no_interval_rather_than_an_error(pandey):
    from flarelib.verify.evaluation import read_predictions, score_table

    fr = [read_predictions(pandey / "predictions" / f"fold{k}_res.csv") for k in (1, 2)]
    t = score_table({"published": (fr, [0.5, 0.5])}, n_boot=0)
    assert t["tss_lo"].isna().all() and np.isfinite(t["tss"]).all()
