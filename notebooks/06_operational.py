# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. Operational use: a forecast an operations desk can take
#
# ## Overview
# `flarelib forecast` issues the probability of a >= M1.0 flare in the next 24 h for a magnetogram, with the
# model's card (what it was trained on, how it was verified) in every output, in three formats: one line of text,
# the native JSON record, and the CCMC Flare Scoreboard's submission JSON. A model trained on the simulated Sun
# refuses a real magnetogram unless the domain shift is allowed, and then says so. Over a store it writes a
# forecast *series*, an archive that `flarelib evaluate` scores like any prediction file. Every output on this
# page is produced by the cells below.
#
# ## Prerequisites
# | Concept | Importance | Notes |
# |---|---|---|
# | [Chapter 2](02_training) | Necessary | trains the headline network (`headline_dir/model{seed}/model.pt`) used here |
# | [Chapter 3](03_near_limb_analysis) | Helpful | why a probability needs calibration and a stated threshold |
#
# - **Time to run**: about a minute and a half at 512 px (the forecast series scores every instant of the store).

# %% [markdown]
# ## Parameters
# | name | meaning |
# |---|---|
# | `data_path` | the store of chapter 1 (the series is made over its instants) |
# | `headline_dir` | chapter 2's headline folder (its networks never trained on this store) |
# | `run_dir` | chapter 2's FullDiskAlexNet run, used where no headline was trained (real data) |
# | `model_seed` | which headline network to forecast with (every seed is reported in chapter 2; this one is an example) |
# | `series_fold` | the fold whose instants the forecast series covers |
# | `out_dir` | where this page's files go |

# %% tags=["parameters"]
data_path = "../runs/quick/data"
headline_dir = "../runs/quick/headline"
run_dir = "../runs/quick/train"
model_seed = 0
series_fold = 1
out_dir = "../runs/quick/operational"

# %% [markdown]
# ## Imports

# %%
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from myst_nb import glue

from flarelib.data.store import open_store
from flarelib.io.download import fetch_reference
from flarelib.sim.simulator import SimConfig, simulate_to_jp2
from flarelib.verify.calibration import cross_fit
from flarelib.verify.evaluation import evaluate, read_predictions, train_optimal_thresholds

# %% tags=["hide-input"]
store = open_store(data_path)
headline = Path(headline_dir) / f"model{model_seed}"
made_for = Path(headline_dir) / "headline.json"
of_this_store = made_for.is_file() and json.loads(made_for.read_text()).get("store") == store.fingerprint[:16]
if of_this_store and (headline / "model.pt").is_file():  # trained on other Suns: every fold of this store is validation data
    checkpoint, reference_dir = headline / "model.pt", headline
else:  # chapter 2 trains no headline on real data: the fold's FullDiskAlexNet, validated on this fold only
    checkpoint, reference_dir = Path(run_dir) / f"fold{series_fold}" / "model.pt", Path(run_dir)
if not checkpoint.is_file():
    raise FileNotFoundError(f"{checkpoint} missing: run chapter 2 (02_training) with headline_dir={headline_dir!r}, "
                            f"run_dir={run_dir!r} first")
print(f"forecasting with {checkpoint}")
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)


def flarelib_cli(*args):
    """Run the command line as a user would, and show what it prints (stdout, or the one-line refusal on stderr)."""
    r = subprocess.run([sys.executable, "-m", "flarelib", *map(str, args)], capture_output=True, text=True)
    print(f"$ flarelib {' '.join(map(str, args))}\n" + (r.stdout or r.stderr).rstrip() + f"\n(exit status {r.returncode})")
    return r


# %% [markdown]
# ## 1. A forecast, and the card that comes with it
#
# The latest magnetogram: on a simulated store, a frame of the same simulated Sun written in Helioviewer's JP2
# format (the simulator's files carry SIM in their names and their headers) a day after the store ends; on a
# prepared store, its newest file.

# %% tags=["hide-input"]
last_t = pd.to_datetime(store.index["timestamp"]).max()
if store.manifest.get("source") == "simulator":
    next_day = f"{last_t + pd.Timedelta(days=1):%Y-%m-%dT%H:00:00}"
    # this page's own scratch folder: a frame of another store's Sun replaces what is there
    files = simulate_to_jp2(SimConfig(**{**store.manifest["simulator"], "start": next_day, "end": next_day}), out / "jp2", progress=False,
                            overwrite=True)
    latest = out / "jp2" / files["path"].iloc[0]
else:
    root = json.loads((Path(data_path) / "inputs.json").read_text()).get("root") or "."
    latest = Path(root) / store.index.sort_values("timestamp")["path"].iloc[-1]
text = flarelib_cli("forecast", latest, "--checkpoint", checkpoint)

# %% [markdown]
# The first line is the model card: the architecture, what it was trained on, the decision threshold and how it
# was chosen, and the skill it verified on instants it never trained on, with 95 % intervals. The native JSON
# carries the same card as an object, beside the checkpoint's and the input's SHA-256:

# %% tags=["hide-input"]
native = json.loads(subprocess.run([sys.executable, "-m", "flarelib", "forecast", str(latest), "--checkpoint", str(checkpoint), "--json"],
                                   capture_output=True, text=True, check=True).stdout)
print(json.dumps({k: native[k] for k in ("issue_time", "prediction_window_start", "prediction_window_end", "probability",
                                         "decision_threshold", "decision_threshold_source", "decision", "domain_shift")}, indent=2))
card = native["model_card"] or {}
display(pd.Series({k: str(v) for k, v in card.items()}, dtype=object).to_frame("model card") if card else "no model card")
glue("op_prob", f"{native['probability']:.3f}", display=False)
glue("op_card_tss", f"{card['tss']:.2f}" if card.get("tss") is not None else "n/a", display=False)

# %% [markdown]
# *Table 6.1: the model card of the forecast above.* The issued probability is {glue:text}`op_prob`; the model
# behind it verified TSS {glue:text}`op_card_tss` on its validation instants (the image-only network: chapter 2
# shows what the regional flare record adds).
#
# **The Scoreboard submission.** The CCMC Flare Scoreboard collects forecasts in one JSON format, the one the
# reference study's own deployment emits: a `forecast_submission` with the model's `short_name` (at most 16
# characters) and `spase_id`, the `issue_time`, the `mode`, and `full_disk_forecasts`, each with its
# `prediction_window` and `flare_probabilities`. No per-forecast uncertainty is estimated, so those fields are
# null; probabilities are rounded to three decimals, finer than the model's verified skill can resolve.

# %%
board = flarelib_cli("forecast", latest, "--checkpoint", checkpoint, "--format", "scoreboard")

# %% [markdown]
# ## 2. A model is a forecast of the data it was trained on
#
# The real HMI magnetogram of `../shared/data`, given to this model:

# %% tags=["hide-input"]
real = fetch_reference("helioviewer/2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2")
refused = flarelib_cli("forecast", real, "--checkpoint", checkpoint)
if refused.returncode == 2:
    shifted = flarelib_cli("forecast", real, "--checkpoint", checkpoint, "--allow-domain-shift")
    glue("op_guard", f"is refused (exit status {refused.returncode}) with one line naming the model's training data; "
         "with `--allow-domain-shift` the forecast is issued and every output says that its skill on this kind of data "
         "is not verified", display=False)
else:
    glue("op_guard", "is forecast: this model was trained on the same kind of data", display=False)

# %% [markdown]
# The real magnetogram {glue:text}`op_guard`. The simulated Sun is built to share the real one's statistics where
# they matter for this book (chapter 1), not to stand in for HMI training data.
#
# ## 3. A forecast series, verified
#
# Over a store, `flarelib forecast --store STORE --fold K --out series.csv` writes one row per instant
# (resumable, with a progress bar); `flarelib evaluate series.csv` scores it. Over a fold of chapter 1's store
# the series reproduces the network's validation predictions of chapter 2:

# %% tags=["hide-input"]
# the headline never trained on this store: its series covers every fold (section 4 calibrates across them)
series_folds = "1,2,3,4" if reference_dir == headline else str(series_fold)
series_csv = out / "series.csv"
flarelib_cli("forecast", "--checkpoint", checkpoint, "--store", data_path, "--fold", series_folds, "--out", series_csv, "--overwrite",
             "--quiet")
whole = read_predictions(series_csv)
series = whole[whole["partition"] == series_fold].reset_index(drop=True)
reference = read_predictions(reference_dir / f"fold{series_fold}" / "predictions.csv")
max_diff = float(np.max(np.abs(series["flare_prob"].to_numpy() - reference["flare_prob"].to_numpy())))
scored, ref_scored = evaluate([series], native["decision_threshold"]), evaluate([reference], native["decision_threshold"])
glue("op_series_n", f"{len(series):,}", display=False)
glue("op_series_fold", str(series_fold), display=False)
glue("op_series_diff", f"{max_diff:.1e}", display=False)
glue("op_series_tss", f"{scored['tss_mean']:.3f}", display=False)
glue("op_ref_tss", f"{ref_scored['tss_mean']:.3f}", display=False)
fig, ax = plt.subplots(figsize=(11, 3))
t = pd.to_datetime(series["timestamp"])
ax.fill_between(t, 0, series["target"], step="post", color="0.85", label=">= M1.0 flare in the next 24 h")
ax.plot(t, series["flare_prob"], lw=0.8, color="tab:blue", label="forecast probability")
ax.axhline(native["decision_threshold"], color="tab:red", lw=0.8, ls="--", label=f"decision threshold {native['decision_threshold']:g}")
ax.set_ylabel("probability")
ax.set_ylim(0, 1)
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, frameon=False)
plt.tight_layout()
plt.show()

# %% [markdown]
# *Figure 6.1: the forecast series over the {glue:text}`op_series_n` instants of fold {glue:text}`op_series_fold`,
# against the event (grey).* The series
# differs from the validation predictions of chapter 2 by at most {glue:text}`op_series_diff` in probability;
# its TSS at the card's decision threshold is {glue:text}`op_series_tss` (chapter 2's predictions of this fold:
# {glue:text}`op_ref_tss`).
#
# ## 4. The decision threshold of a calibrated forecast
#
# A class-weighted network forecasts as if flares were as common as quiet days, and 0.5 is its natural cut.
# Calibrated (here by isotonic regression cross-fitted across the four folds of a series over the whole store),
# its probabilities mean what they say, and the probability of a rare event seldom reaches 0.5: the decision
# threshold of a calibrated forecast is a separate choice, made on training data and stated in the model card.

# %% tags=["hide-input"]
if reference_dir == headline:
    folds = [whole[whole["partition"] == k].reset_index(drop=True) for k in (1, 2, 3, 4) if (whole["partition"] == k).any()]
    cal = [f.assign(flare_prob=c) for f, c in zip(folds, cross_fit([f["target"].to_numpy() for f in folds],
                                                                  [f["flare_prob"].to_numpy() for f in folds], "isotonic"))]
    rows = []
    for name, frames in (("as trained", folds), ("calibrated (isotonic, cross-fitted)", cal)):
        for rule, th in (("0.5", [0.5] * len(frames)), ("training-fold TSS-optimal", train_optimal_thresholds(frames))):
            r = evaluate(frames, th)
            yes = np.concatenate([f["flare_prob"].to_numpy() >= v for f, v in zip(frames, th)])
            rows.append({"probabilities": name, "threshold": rule, "thresholds by fold": ", ".join(f"{v:.2f}" for v in th),
                         "share forecast yes": round(float(yes.mean()), 3), "TSS": round(r["tss_mean"], 3), "BSS": round(r["bss"], 3)})
    thr = pd.DataFrame(rows).set_index(["probabilities", "threshold"])
    display(thr)
    cal_at = thr.loc["calibrated (isotonic, cross-fitted)"]
    glue("op_cal_share_05", f"{cal_at.loc['0.5', 'share forecast yes']:.3f}", display=False)
    glue("op_cal_tss_05", f"{cal_at.loc['0.5', 'TSS']:.2f}", display=False)
    glue("op_cal_tss_opt", f"{cal_at.loc['training-fold TSS-optimal', 'TSS']:.2f}", display=False)
else:
    print("the fold's FullDiskAlexNet trained on the other folds of this store: a series over all of them is no verification; "
          "this section needs chapter 2's headline (simulated stores)")
    for key in ("op_cal_share_05", "op_cal_tss_05", "op_cal_tss_opt"):
        glue(key, "n/a", display=False)

# %% [markdown]
# *Table 6.2: the same forecasts, as trained and calibrated, cut at 0.5 and at each fold's threshold of largest
# TSS on the other folds.* Calibrated and cut at 0.5, {glue:text}`op_cal_share_05` of the instants are forecast
# "yes" and the TSS is {glue:text}`op_cal_tss_05`; cut where the training folds' TSS is largest it is
# {glue:text}`op_cal_tss_opt`. `flarelib train --select inner --calibrate isotonic` therefore stores, beside the
# calibrator, the threshold of largest TSS on the inner split of the training partitions in the model card, and
# `forecast` uses it unless `--decision-threshold` says otherwise.
#
# ## Summary
# - Every forecast carries its model card: training data, event, calibration, threshold and verified skill.
# - A model of the simulated Sun refuses a real magnetogram unless the domain shift is allowed, and says so.
# - `--format scoreboard` writes the CCMC Flare Scoreboard submission; `--store ... --out` writes a forecast
#   series that `flarelib evaluate` verifies.
# - A calibrated forecast needs its own decision threshold, chosen on training data.
#
# ## Reference: the native JSON
#
# | key | meaning |
# |---|---|
# | `issue_time`, `prediction_window_start`, `prediction_window_end` | observation time of the magnetogram and the next 24 h (UTC) |
# | `event` | the event the checkpoint forecasts (threshold class M1.0, $10^{-5}$ W m$^{-2}$, 24 h) |
# | `probability`, `probability_raw` | the issued probability (calibrated when the checkpoint carries a calibrator) and the network's own, three decimals |
# | `decision_threshold`, `decision_threshold_source`, `decision` | yes at and above the threshold, and where the threshold came from (the model card, or `--decision-threshold`) |
# | `domain_shift` | null, or why this magnetogram is outside the model's training domain (with `--allow-domain-shift`) |
# | `model_card` | architecture, profile, image size, training data (domain, instrument, period, store fingerprint), event, calibration, threshold and its rule, validation skill (TSS, BSS with 95 % intervals, AUC) |
# | `model`, `input` | checkpoint path and SHA-256, fold, epoch, selection; input file, SHA-256, observation time, instrument, product |
# | `explanations`, `regions` | with `--explain` and `--regions`: the attribution maps, and the probability split over the regions of a map (chapter 5 scores those splits) |
