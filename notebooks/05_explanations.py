# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Explanations: Guided Grad-CAM, Deep SHAP and Integrated Gradients, compared and checked
#
# ## Overview
# The reference study shows attribution maps and says the three methods agree and point at active regions. On the
# simulated Sun we know which region produced each flare, so we can *measure* it:
#
# 1. the three methods side by side for true positives, false positives and false negatives, central and near-limb;
# 2. how much the methods agree (Spearman rank correlation, overlap of their top 1 % and 5 % pixels);
# 3. whether they point at the region that flared (share of positive attribution inside its mask against its
#    share of the disk, the *lift*; the pointing game);
# 4. whether they depend on the model at all (cascading randomisation, Adebayo et al. 2018);
# 5. the model applied to the real HMI magnetogram, with its three maps.
#
# ## Prerequisites
# | Concept | Importance | Notes |
# |---|---|---|
# | [Chapter 2](02_training) | Necessary | the trained model and its validation predictions |
# | Attribution methods | Helpful | Grad-CAM, DeepLIFT/SHAP, Integrated Gradients |
#
# - **Time to run**: a minute with the default parameters; a few minutes with the book's.

# %% [markdown]
# ## Parameters
# | name | meaning |
# |---|---|
# | `data_path`, `run_dir` | the store and chapter 2's run folder |
# | `fold` | which fold's model and validation instances to explain |
# | `n_per_kind` | instances per kind (TP/FP/FN x central/near-limb) |
# | `ig_steps` | Integrated Gradients steps |
# | `n_background` | Deep SHAP background size (no-flare training images) |
# | `n_randomisation` | images for the cascading randomisation test |

# %% tags=["parameters"]
data_path = "../runs/quick/data"
run_dir = "../runs/quick/train"
fold = 1
n_per_kind = 1
ig_steps = 16
n_background = 4
n_randomisation = 1

# %% [markdown]
# ## Imports

# %%
from itertools import combinations
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from flarelib import parse_goes_class, read_magnetogram
from flarelib.data.store import open_store
from flarelib.explain.attribution import METHODS, agreement, cascading_randomisation, deepshap_background, explain, localisation
from flarelib.io.download import fetch_reference
from flarelib.io.geometry import disk_mask, stonyhurst_to_pixel
from flarelib.model.checkpoint import model_from_checkpoint
from flarelib.plots import plot_attribution, show_magnetogram
from flarelib.sim.simulator import largest_flare_regions, simulated_meta, simulator_of_store
from flarelib.verify.metrics import LIMB_DEG

# %% [markdown]
# ## 1. The model and the instances to explain

# %%
ckpt = Path(run_dir) / f"fold{fold}" / "model.pt"
if not ckpt.is_file():
    raise FileNotFoundError(f"{ckpt} does not exist: run chapter 2 (02_training) for fold {fold} first")
model, meta_ck = model_from_checkpoint(ckpt)
store = open_store(data_path)
preds = pd.read_csv(Path(run_dir) / f"fold{fold}" / "predictions.csv", parse_dates=["timestamp"])
preds["pred"] = (preds["flare_prob"] >= 0.5).astype(int)
preds["kind"] = np.select([(preds.pred == 1) & (preds.target == 1), (preds.pred == 1) & (preds.target == 0),
                           (preds.pred == 0) & (preds.target == 1)], ["TP", "FP", "FN"], "TN")
preds["where"] = np.where(preds["fl_lon"].abs() > LIMB_DEG, "near-limb", "central")
preds.groupby(["kind", "where"]).size().unstack(fill_value=0)

# %%
sim = simulator_of_store(store.manifest) if store.manifest.get("source") == "simulator" else None
catalog = pd.read_csv(Path(data_path) / "catalog.csv") if sim is not None else None
if catalog is not None:
    catalog["peak_flux_wm2"] = catalog["goes_class"].map(parse_goes_class)
    catalog = catalog.rename(columns={"start_time": "start"})
    preds["region_id"] = largest_flare_regions(catalog, preds["timestamp"])
chosen = []
for kind in ("TP", "FP", "FN"):
    for where in ("central", "near-limb"):
        sub = preds[(preds.kind == kind) & (preds["where"] == where) & preds["fl_lon"].notna()]
        sub = sub.sort_values("flare_prob", ascending=(kind == "FN"))
        chosen += [(kind, where, r) for r in sub.head(n_per_kind).itertuples()]
print(f"{len(chosen)} instances chosen")

# %%
pos_of = dict(zip(store.index["timestamp"], range(len(store))))
positions = [pos_of[r.timestamp] for _, _, r in chosen]
x = torch.from_numpy(np.stack([store.image(i) for i in positions]).astype(np.float32))[:, None] if chosen else None
# the disk of each image from its header geometry (a saturated negative umbra is 0 like the sky: never pixel > 0)
disks = [disk_mask(store.size_px, store.disk(i)[:2], store.disk(i)[2]) for i in positions]
background = deepshap_background(store, fold, n_background)
ex = explain(model, x, background=background, n_steps=ig_steps) if chosen else None

# %% [markdown]
# ## 2. The three methods side by side

# %%
def flare_xy(r, pos):
    """The flare's pixel position (simulated data: through the frame's geometry and sunpy), and the disk centre and radius."""
    cx, cy, rad = store.disk(pos)
    if sim is None:  # real data: the store keeps the disk, not the observer's ephemeris; no marker
        return None, (cx, cy), rad
    meta = simulated_meta(sim, int(sim.times.searchsorted(r.timestamp)))
    fx, fy, vis = stonyhurst_to_pixel([r.fl_lon], [r.fl_lat], meta)
    return ((float(fx[0]), float(fy[0])) if vis[0] else None), (cx, cy), rad


if chosen:
    fig, axes = plt.subplots(len(chosen), 4, figsize=(13, 3.3 * len(chosen)), squeeze=False)
    for row, (kind, where, r) in enumerate(chosen):
        xy, centre, rad = flare_xy(r, positions[row])
        img = x[row, 0].numpy()
        show_magnetogram(img, centre, rad, ax=axes[row, 0], marker_px=xy,
                         title=f"{kind} {where}: {r.max_class or 'none'} at {r.fl_lon:.0f}°, p={r.flare_prob:.2f}")
        for col, m in enumerate(METHODS, start=1):
            plot_attribution(img, ex.maps[m][row], ax=axes[row, col], title=m, center_px=centre, radius_px=rad, marker_px=xy)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# *Figure 5.1: each row a validation instance (kind, position of the window's largest flare, its class and
# longitude, the forecast probability); columns: the magnetogram and the positive attribution toward the flare
# class of Guided Grad-CAM, Deep SHAP and Integrated Gradients (hot colours). The red cross marks the largest
# flare of the window, placed with the frame's B0 through sunpy's coordinate frames; none is drawn for a flare
# behind the limb.*

# %% [markdown]
# ## 3. Do the methods agree?

# %%
rows = []
if chosen:
    for k in range(len(chosen)):
        disk = disks[k]
        for a, b in combinations(METHODS, 2):
            rows.append({"pair": f"{a} / {b}", **agreement(ex.maps[a][k], ex.maps[b][k], disk)})
agree = pd.DataFrame(rows).groupby("pair").mean().round(3) if rows else pd.DataFrame()
agree

# %% [markdown]
# *Table 5.1: mean over the instances of the Spearman rank correlation of two methods' maps on the disk, and the
# intersection over union of their top 1 % and 5 % pixels.*
#
# ## 4. Do they point at the region that flared?

# %%
rows = []
if chosen and sim is not None:
    for k, (kind, where, r) in enumerate(chosen):
        if not r.region_id:
            continue
        i = int(sim.times.searchsorted(r.timestamp))
        region = sim.region_masks(i) == r.region_id
        if not region.any():
            continue  # the region is behind the limb: nothing to point at
        disk = disks[k]
        for m in METHODS:
            rows.append({"method": m, "kind": kind, "where": where, **localisation(ex.maps[m][k], region, disk)})
loc = pd.DataFrame(rows)
if len(loc):
    display(loc.groupby("method")[["share_inside", "area_share", "lift", "pointing"]].mean().round(3))
    display(loc.groupby(["method", "kind"])[["lift", "pointing"]].mean().unstack().round(2))
else:
    print("no instance with a visible flaring region in this sample")

# %% [markdown]
# *Table 5.2: share of each method's positive attribution inside the mask of the region that produced the
# window's largest flare, that mask's share of the disk, their ratio (lift: 1 means no better than chance), and
# the pointing-game rate (the map's maximum falls inside the region).*
#
# ## 5. Do they depend on the model? Cascading randomisation

# %%
rand = pd.DataFrame(cascading_randomisation(model, x[:n_randomisation], background=background, n_steps=max(4, ig_steps // 2),
                                            disks=np.stack(disks[:n_randomisation])))
fig, ax = plt.subplots(figsize=(7, 3.5))
for m, g in rand.groupby("method"):
    ax.plot(g["layers_randomised"], g["spearman"], marker="o", label=m)
ax.set_xticks(rand["layers_randomised"].unique(), rand.drop_duplicates("layers_randomised")["layer"], rotation=45, ha="right")
ax.set_xlabel("layers randomised, from the output down")
ax.set_ylabel("Spearman rank correlation\nwith the trained model's map")
ax.set_ylim(-0.2, 1.05)
ax.legend()
plt.tight_layout()
plt.show()
last = rand[rand.layers_randomised == rand.layers_randomised.max()].set_index("method")
flags = {m: ("FLAG: empty map, explains nothing" if r.original_map_empty else
             "FLAG: barely moves; reflects the input, not the model" if r.spearman > 0.5 else "moves with the model")
         for m, r in last.iterrows()}
pd.DataFrame({"similarity when fully randomised": last["spearman"].round(3), "verdict": pd.Series(flags)})

# %% [markdown]
# *Figure 5.2: similarity of each method's map to the trained model's map as the model's layers are replaced by
# random weights from the output down. A method whose similarity stays high explains the input rather than the
# model and is flagged.*

# %%
if ex is not None and ex.ig_delta is not None:
    with torch.no_grad():
        from flarelib.explain.attribution import field_free_baseline

        change = (model(x)[:, 1] - model(field_free_baseline(x))[:, 1]).abs().numpy()
    print(f"Integrated Gradients completeness delta: median |delta| {np.median(np.abs(ex.ig_delta)):.2e}, "
          f"{np.median(np.abs(ex.ig_delta) / np.maximum(change, 1e-9)):.1%} of the logit change from the field-free disk")

# %% [markdown]
# ## 6. The real HMI magnetogram

# %%
real = read_magnetogram(fetch_reference("helioviewer/2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2"),
                        size_px=store.size_px)
xr = torch.from_numpy(real.data.astype(np.float32))[None, None]
exr = explain(model, xr, background=background, n_steps=ig_steps)
fig, axes = plt.subplots(1, 4, figsize=(16, 4.3))
show_magnetogram(real.data, real.meta.disk_center_px, real.meta.disk_radius_px, ax=axes[0],
                 title=f"HMI {real.meta.date_obs:%Y-%m-%d %H:%M}, p={exr.probabilities[0]:.2f}")
for ax, m in zip(axes[1:], METHODS):
    plot_attribution(real.data, exr.maps[m][0], ax=ax, title=m, center_px=real.meta.disk_center_px, radius_px=real.meta.disk_radius_px)
plt.tight_layout()
plt.show()
peaks = {m: np.unravel_index(np.argmax(np.where(real.disk_mask, exr.maps[m][0], -np.inf)), xr.shape[2:]) for m in METHODS}
pd.DataFrame([{"method": m, "peak x (px)": int(peaks[m][1]), "peak y (px)": int(peaks[m][0])} for m in METHODS])

# %% [markdown]
# *Figure 5.3: the model trained on the simulated Sun applied to the real magnetogram of 2022-08-02, with its
# three maps. No flare catalog for this date is available offline; with one (`flarelib download flares`), the
# distance from each map's peak to the flare follows from `flarelib.explain.attribution.peak_distance_px` and
# `flarelib.io.geometry.stonyhurst_to_pixel`.*
#
# ## Summary
# - All three methods answer the same call and give maps of the input's shape; the model is never modified.
# - Agreement, localisation against the true flaring region, and the randomisation test are measured, not assumed.
#
# ## What's next
# Operational use: `flarelib forecast --checkpoint model.pt LATEST.jp2 --explain` issues the forecast with its
# three maps.
