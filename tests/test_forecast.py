"""Operational forecasts: the model card, the domain guard, the Scoreboard submission and forecast series."""
import json

import numpy as np
import pandas as pd
import pytest

from flarelib.data.store import open_store
from flarelib.errors import InputError
from flarelib.forecast import PROBABILITY_DIGITS, SERIES_COLUMNS, Forecaster, scoreboard_submission, scoreboard_submissions
from flarelib.model.card import SIMULATED, ModelCard, store_domain
from flarelib.model.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from flarelib.model.training import TrainConfig, train_fold
from flarelib.sim.simulator import SimConfig, simulate_to_jp2
from flarelib.verify.evaluation import evaluate, read_predictions

from .conftest import run_cli
from .test_model_training import tiny_store  # noqa: F401


@pytest.fixture(scope="module")
def run(tiny_store, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("forecast_run")
    train_fold(tiny_store, 1, TrainConfig.offline(epochs=1, batch_size=8, max_batches_per_epoch=2, threads=1), out, progress=False)
    return out / "fold1"


@pytest.fixture(scope="module")
def sim_jp2(tmp_path_factory):
    out = tmp_path_factory.mktemp("simjp2")
    files = simulate_to_jp2(SimConfig(start="2012-03-05", end="2012-03-05 01:00", cadence_h=1, size_px=128, seed=2), out, progress=False)
    return out / files["path"].iloc[0]


def test_every_reported_checkpoint_carries_a_model_card_of_its_validation_skill(run, tiny_store):  # noqa: F811
    _, meta = model_from_checkpoint(run / "model.pt")
    card = meta.get_card()
    assert isinstance(card, ModelCard)
    assert card.training_data == SIMULATED and card.instrument == "SIM" and card.image_size_px == 128
    assert card.store_fingerprint == open_store(tiny_store).fingerprint[:16] and card.architecture == "FullDiskAlexNet"
    assert card.decision_threshold == 0.5 and "0.5" in card.threshold_rule and card.calibration is None
    # its skill is the reported model's on its validation fold, recomputed from predictions.csv
    pred = read_predictions(run / "predictions.csv")
    r = evaluate([pred], 0.5)
    assert card.tss == pytest.approx(r["tss_mean"], abs=1e-4) and card.bss == pytest.approx(r["bss"], abs=1e-4)
    assert card.n_validation == len(pred)
    assert len(card.tss_ci) == 2 and "fold 1" in card.validation
    # the period is the training partitions' (2-4), never the validation fold's (January to March)
    assert card.period_start >= "2012-04-01" and card.period_end.startswith("2012-12")
    line = card.one_line()
    assert "simulated" in line and "TSS" in line and "BSS" in line and "\n" not in line
    assert ModelCard.from_dict(json.loads(json.dumps(card.to_dict()))).store_fingerprint == card.store_fingerprint


def test_a_simulated_model_refuses_the_real_magnetogram_unless_the_shift_is_allowed(run, real_magnetogram):
    r = run_cli("forecast", real_magnetogram, "--checkpoint", run / "model.pt")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "simulated" in r.stderr and real_magnetogram.name in r.stderr and "--allow-domain-shift" in r.stderr
    ok = run_cli("forecast", real_magnetogram, "--checkpoint", run / "model.pt", "--allow-domain-shift")
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.strip().splitlines()
    assert lines[0].startswith("model: FullDiskAlexNet") and "simulated" in lines[0]  # the model card, one line
    assert any("DOMAIN SHIFT" in ln for ln in lines)
    js = json.loads(run_cli("forecast", real_magnetogram, "--checkpoint", run / "model.pt", "--allow-domain-shift", "--json").stdout)
    assert "simulated" in js["domain_shift"] and js["model_card"]["training_data"] == "simulated"
    assert js["probability"] == round(js["probability"], PROBABILITY_DIGITS)


def test_a_simulated_magnetogram_is_in_the_simulated_models_domain_and_named_so(run, sim_jp2):
    assert "SIM" in sim_jp2.name and "SDO" not in sim_jp2.name
    r = run_cli("forecast", sim_jp2, "--checkpoint", run / "model.pt", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["domain_shift"] is None and d["decision_threshold_source"].startswith("model card")


def test_scoreboard_submission_has_the_schemas_required_fields(run, sim_jp2):
    r = run_cli("forecast", sim_jp2, "--checkpoint", run / "model.pt", "--format", "scoreboard", "--regions")
    assert r.returncode == 0, r.stderr
    sub = json.loads(r.stdout)["forecast_submission"]
    assert set(sub) >= {"model", "issue_time", "mode", "full_disk_forecasts"}
    assert set(sub["model"]) == {"short_name", "spase_id"} and len(sub["model"]["short_name"]) <= 16
    assert sub["model"]["spase_id"].startswith("spase://") and sub["mode"] == "forecast"
    assert sub["issue_time"] == "2012-03-05T00:00Z"
    (fd,) = sub["full_disk_forecasts"]
    assert fd["prediction_window"] == {"start_time": "2012-03-05T00:00Z", "end_time": "2012-03-06T00:00Z"}
    (fp,) = fd["flare_probabilities"]
    assert set(fp) == {"class", "probability", "uncertainty", "uncertainty_low", "uncertainty_high"} and fp["class"] == "M"
    assert 0 <= fp["probability"] <= 1 and fp["probability"] == round(fp["probability"], PROBABILITY_DIGITS)
    assert sub["region_forecasts"], "no region forecast"
    for g in sub["region_forecasts"]:
        assert -90 <= g["lon_deg"] <= 90 and -90 <= g["lat_deg"] <= 90 and g["flare_probabilities"][0]["class"] == "M"
    with pytest.raises(InputError, match="16"):
        scoreboard_submission([{"probability": 0.1}], short_name="x" * 17)
    with pytest.raises(InputError, match="no forecast"):
        scoreboard_submission([])
    two = [{"issue_time": t, "prediction_window_start": t, "prediction_window_end": t, "probability": 0.2}
           for t in ("2012-03-05T00:00:00Z", "2012-03-05T01:00:00Z")]
    with pytest.raises(InputError, match="several issue times"):
        scoreboard_submission(two)
    subs = scoreboard_submissions(two)
    assert [x["forecast_submission"]["issue_time"] for x in subs] == ["2012-03-05T00:00Z", "2012-03-05T01:00Z"]


def test_a_forecast_series_of_the_validation_fold_reproduces_its_scores(run, tiny_store, tmp_path):  # noqa: F811
    series = tmp_path / "series.csv"
    r = run_cli("forecast", "--checkpoint", run / "model.pt", "--store", tiny_store, "--fold", "1", "--out", series, "--quiet")
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(series)
    assert list(got.columns) == list(SERIES_COLUMNS)
    ref = pd.read_csv(run / "predictions.csv")
    assert (got["timestamp"] == ref["timestamp"]).all()
    assert np.allclose(got["flare_prob"], ref["flare_prob"], atol=1e-5)
    ev = json.loads(run_cli("evaluate", series, "--json").stdout)
    want = evaluate([read_predictions(run / "predictions.csv")], 0.5)
    assert ev["tss_mean"] == pytest.approx(want["tss_mean"]) and ev["auc"] == pytest.approx(want["auc"], abs=1e-4)
    # an existing archive is neither replaced nor mixed without being asked
    again = run_cli("forecast", "--checkpoint", run / "model.pt", "--store", tiny_store, "--fold", "1", "--out", series, "--quiet")
    assert again.returncode == 2 and "--resume" in again.stderr
    before = series.read_bytes()
    assert run_cli("forecast", "--checkpoint", run / "model.pt", "--store", tiny_store, "--fold", "1", "--out", series, "--resume",
                   "--quiet").returncode == 0
    assert series.read_bytes() == before
    other = run_cli("forecast", "--checkpoint", run / "model.pt", "--store", tiny_store, "--fold", "2", "--out", series, "--resume",
                    "--quiet")
    assert other.returncode == 2 and "folds differ" in other.stderr
    for bad, word in ((["--fold", "1,x"], "--fold"), (["--fold", "5"], "--fold"), (["--fold", "1", "--json"], "--json"),
                      (["--fold", "1", "--resume", "--overwrite"], "--resume")):
        r = run_cli("forecast", "--checkpoint", run / "model.pt", "--store", tiny_store, "--out", series, *bad)
        assert r.returncode == 2 and word in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_resumed_series_continues_after_the_instants_already_written(run, tiny_store, tmp_path):  # noqa: F811
    from flarelib.forecast import forecast_store

    full = forecast_store(run / "model.pt", tiny_store, tmp_path / "full.csv", folds=(1,), progress=False)
    part = tmp_path / "part.csv"
    full.iloc[:7].to_csv(part, index=False)  # as if killed after 7 instants, beside the record of what it is
    (tmp_path / "part.csv.json").write_bytes((tmp_path / "full.csv.json").read_bytes())
    resumed = forecast_store(run / "model.pt", tiny_store, part, folds=(1,), progress=False, chunk=5)
    pd.testing.assert_frame_equal(resumed, full)
    # a series of another threshold (or model, store, folds) is never continued into it
    with pytest.raises(InputError, match="decision threshold differ"):
        forecast_store(run / "model.pt", tiny_store, part, folds=(1,), progress=False, decision_threshold=0.3)
    (tmp_path / "part.csv.json").unlink()
    with pytest.raises(InputError, match="no record"):
        forecast_store(run / "model.pt", tiny_store, part, folds=(1,), progress=False)


def test_nan_weights_give_no_forecast(run, real_magnetogram, tmp_path):
    ck = load_checkpoint(run / "model.pt")
    ck["model"] = {k: v * float("nan") if v.is_floating_point() else v for k, v in ck["model"].items()}
    save_checkpoint(tmp_path / "nan.pt", ck)
    r = run_cli("forecast", real_magnetogram, "--checkpoint", tmp_path / "nan.pt", "--allow-domain-shift", "--json")
    assert r.returncode == 2 and "probability" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_store_domain_reads_the_manifest(tiny_store, real_magnetogram):  # noqa: F811
    from flarelib.data.store import Store, _instrument

    assert store_domain(open_store(tiny_store)) == (SIMULATED, "SIM")
    # a prepared store records the instrument its files' headers name
    instrument = _instrument([str(real_magnetogram)])
    assert instrument == "SDO/HMI_FRONT2"  # TELESCOP/INSTRUME of the real header
    assert store_domain(Store(None, None, None, {"source": "prepare", "instrument": instrument})) == ("real", instrument)
    assert store_domain(Store(None, None, None, {"source": "prepare", "instrument": "SIM/HMI-SIM"}))[0] == SIMULATED


def test_a_given_threshold_overrides_the_cards(run):
    fc = Forecaster(run / "model.pt", decision_threshold=0.3)
    assert fc.decision_threshold == 0.3 and fc.threshold_source.startswith("given")
    with pytest.raises(InputError, match="decision-threshold"):
        Forecaster(run / "model.pt", decision_threshold=1.5)
