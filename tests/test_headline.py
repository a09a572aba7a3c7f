"""The headline forecast end to end: independent Suns, FlareRateNet per model seed, the flare-record head, resume."""
import json

import numpy as np
import pandas as pd
import pytest

from flarelib.data.store import open_store
from flarelib.errors import InputError
from flarelib.model.headline import FLARE_RECORD, HeadlineConfig, independent_suns, train_headline
from flarelib.model.history import HEAD_DESIGNS, calibration_cv_tss, frames_with_probabilities
from flarelib.sim.simulator import SimConfig, simulate_to_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("headline") / "sun3"
    return simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=48, size_px=128, seed=3), out, workers=1,
                             progress=False)


def _config(**kw):
    base = dict(train_seeds=(4,), train_cadence_h=96, calibration_seed=5, model_seeds=(0,), epochs=1, width=4, max_batches_per_epoch=2)
    return HeadlineConfig(**{**base, **kw})


def test_the_headline_is_trained_elsewhere_scored_on_every_fold_and_resumed(store, tmp_path):
    work = tmp_path / "work"
    h = train_headline(store, _config(), work, progress=False)
    ev = open_store(store)
    assert h.store_fingerprint == ev.fingerprint[:16] and h.size_px == 128
    (m,) = h.models
    assert [int(f["partition"].iloc[0]) for f in m.image_only] == [1, 2, 3, 4]
    assert set(m.designs) == set(HEAD_DESIGNS) and m.chosen == max(m.calibration_cv_tss, key=m.calibration_cv_tss.get)
    # every forecast covers the same instants as the network's own predictions, with other probabilities
    for frames in (*m.designs.values(), h.record_alone):
        assert [len(f) for f in frames] == [len(f) for f in m.image_only]
        assert np.isfinite(pd.concat(frames)["flare_prob"]).all()
    assert not np.allclose(pd.concat(m.with_record)["flare_prob"], pd.concat(m.image_only)["flare_prob"])
    # the record-alone control has no image: two instants with the same recent flares get the same probability
    p0 = pd.concat(h.record_alone)["flare_prob"].to_numpy()
    assert len(np.unique(p0.round(12))) < len(p0)
    # training wrote the final network's rate maps (from the stem computed once); they are the network's own
    from flarelib.model.checkpoint import model_from_checkpoint
    from flarelib.model.history import store_log_rate_maps
    net, _ = model_from_checkpoint(work / "model0" / "model.pt")
    assert np.allclose(np.load(work / "model0" / f"log_rates_{ev.fingerprint[:16]}.npy"), store_log_rate_maps(net, ev, progress=False),
                       atol=1e-4)
    # the rate maps reproduce the per-fold predictions, with and without the record
    both = pd.concat(m.with_record)
    rows_of = pd.Series(np.arange(len(ev.index)), index=pd.to_datetime(ev.index["timestamp"]))
    at = rows_of.reindex(pd.to_datetime(both["timestamp"])).to_numpy()
    assert np.allclose(h.probabilities(m)[at], both["flare_prob"].to_numpy())
    assert np.allclose(h.probabilities(m, record=False)[at], pd.concat(m.image_only)["flare_prob"].to_numpy(), atol=1e-2)
    names = h.forecasts()
    assert FLARE_RECORD in names and "FlareRateNet alone, model seed 0" in names and len(names) == 3
    assert len(h.forecasts(designs=True)) == 2 + len(HEAD_DESIGNS)
    rows = h.seed_rows()
    assert len(rows) == 8 and set(rows["kind"]) == {"image", "record"} and (rows["store"] == h.store_fingerprint).all()
    # the Suns are other seeds of the same configuration; none is the reported one
    fps = {open_store(p).fingerprint for p in (work / "sun4_96h", work / "sun5")}
    assert ev.fingerprint not in fps and len(fps) == 2
    assert m.train_frames == len(open_store(work / "sun4_96h").index) == (len(ev.index) + 1) // 2
    # resume: nothing retrained when the configuration matches; a changed recipe retrains
    ck = work / "model0" / "model.pt"
    stamp = ck.stat().st_mtime_ns
    h2 = train_headline(store, _config(), work, progress=False)
    assert ck.stat().st_mtime_ns == stamp
    assert np.allclose(pd.concat(h2.models[0].with_record)["flare_prob"], pd.concat(m.with_record)["flare_prob"])
    train_headline(store, _config(epochs=2), work, progress=False)
    assert ck.stat().st_mtime_ns != stamp and json.loads((work / "model0" / "headline_run.json").read_text())["headline"]["epochs"] == 2
    assert json.loads((work / "headline.json").read_text())["store"] == h.store_fingerprint
    # a further Sun of another configuration in the work folder is simulated afresh, never reused
    made = json.loads((work / "sun5" / "inputs.json").read_text())
    made["simulator"]["noise_gauss"] = 99.0
    (work / "sun5" / "inputs.json").write_text(json.dumps(made))
    (cal,) = independent_suns(store, (5,), work, progress=False)
    assert json.loads((cal / "inputs.json").read_text())["simulator"]["noise_gauss"] != 99.0


def test_the_headline_refuses_what_would_mix_suns(store, tmp_path):
    with pytest.raises(InputError, match="also a training seed"):
        HeadlineConfig(train_seeds=(1, 2), calibration_seed=2)
    with pytest.raises(InputError, match="train_cadence_h"):
        HeadlineConfig(train_cadence_h=0)
    assert HeadlineConfig(train_seeds="1, 2", model_seeds="0,1").train_seeds == (1, 2)  # papermill passes strings
    assert HeadlineConfig(model_seeds=0).model_seeds == (0,)  # ... or an int for one seed
    with pytest.raises(InputError, match="own seed"):
        independent_suns(store, (3,), tmp_path)


def test_design_choice_and_frames_helpers(store):
    ev = open_store(store)
    rng = np.random.default_rng(0)
    n = len(ev.index)
    lr = rng.normal(-3, 1, (n, 4, 4))
    hist = rng.poisson(0.3, (n, 2, 4, 4)).astype(np.float32)
    cv = calibration_cv_tss(lr, hist, ev.index, (1.0, 3.0), fit_image_weight=True)
    assert -1 <= cv <= 1
    template = [ev.index[ev.index["partition"] == k].assign(flare_prob=0.0) for k in (1, 2)]
    out = frames_with_probabilities(ev, np.arange(n) / n, template)
    assert np.allclose(out[0]["flare_prob"], template[0].index / n)
    bad = [template[0].assign(timestamp=pd.Timestamp("1999-01-01"))]
    with pytest.raises(InputError, match="missing"):
        frames_with_probabilities(ev, np.zeros(n), bad)
