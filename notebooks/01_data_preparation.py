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
# # 1. Data preparation: real HMI magnetograms, published labels and the simulated Sun
#
# ## Overview
# This notebook prepares and inspects everything the later chapters use:
#
# 1. a **real** Helioviewer HMI line-of-sight magnetogram, read at 512 x 512 straight from its JPEG 2000 wavelet levels, with the disk outline drawn from its own header;
# 2. the **published labels** of the reference study (63,649 hourly instances, Dec 2010 - Dec 2018) and their tri-monthly partitions;
# 3. the **embedded default data set**: a physical simulation of full-disk magnetograms and GOES flares, labelled by the same code as real data, with its ground truth (which region flared) and its *oracle* (the best possible forecast).
#
# ## Prerequisites
# | Concept | Importance | Notes |
# |---|---|---|
# | HMI line-of-sight magnetograms | Necessary | field toward/away from the observer, in Gauss |
# | GOES flare classes | Necessary | A, B, C, M, X: decades of 1-8 Å peak flux |
# | Stonyhurst heliographic coordinates | Helpful | longitude from the central meridian |
#
# - **Time to run**: about a minute with the default parameters; a few minutes with the book's.

# %% [markdown]
# ## Parameters
# Change these with papermill (`-p name value`) or `make book BOOK_PARAMS="..."`.
#
# | name | meaning |
# |---|---|
# | `data_source` | `"simulated"` (default) or `"real"` (a store made by `flarelib prepare`, at `data_path`) |
# | `data_path` | store folder; for simulated data it is created here if missing |
# | `sim_start`, `sim_end`, `sim_cadence_h` | simulated period and cadence (hours) |
# | `image_size` | image width and height in pixels |
# | `seed` | simulator seed |

# %% tags=["parameters"]
data_source = "simulated"
data_path = "../runs/quick/data"
sim_start = "2012-01-01T00:00:00"
sim_end = "2012-12-31T23:00:00"
sim_cadence_h = 24.0
image_size = 128
seed = 0

# %% [markdown]
# ## Imports

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from flarelib import read_magnetogram
from flarelib.data.labels import partition_summary, read_published_index
from flarelib.data.store import open_store
from flarelib.io.download import fetch_reference
from flarelib.io.geometry import disk_mask
from flarelib.plots import plot_butterfly, plot_class_distribution, plot_histograms, plot_partitions, show_magnetogram
from flarelib.sim.simulator import SimConfig, Simulator, simulate_to_store

# %% [markdown]
# ## 1. A real HMI magnetogram
# Helioviewer serves HMI magnetograms as 4096 x 4096 8-bit JPEG 2000 files: the field is clipped to
# $\pm$250 G and scaled linearly, so 0 G is about 127. The reader decodes three wavelet levels less
# (512 x 512) and parses the FITS header that rides in the file's XML box.

# %%
real_path = fetch_reference("helioviewer/2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2")
real = read_magnetogram(real_path, size_px=512)
pd.Series({k: v for k, v in real.meta.to_json().items() if k != "path"}, name="header").to_frame()

# %%
fig, ax = plt.subplots(figsize=(5.5, 5.5))
show_magnetogram(real.data, real.meta.disk_center_px, real.meta.disk_radius_px, ax=ax,
                 title=f"SDO/HMI {real.meta.date_obs:%Y-%m-%d %H:%M} UT, 512 x 512")
plt.show()

# %% [markdown]
# *Figure 1.1: the real HMI line-of-sight magnetogram (white: field toward the observer, black: away),
# with the disk outline (orange) computed from the header's CRPIX, CDELT and RSUN_OBS, not fitted to the image.*

# %% [markdown]
# ## 2. The published labels
# The reference study labels each hourly magnetogram with the largest GOES flare starting in the next 24 h;
# the binary target is 1 for $\geq$ M1.0. Partitions are tri-monthly (1 = Jan-Mar, ..., 4 = Oct-Dec).

# %%
published = pd.concat([read_published_index(fetch_reference(f"pandey2023/labels/Fold{k}_val.csv")) for k in (1, 2, 3, 4)],
                      ignore_index=True)
pub_summary = partition_summary(published)
pd.DataFrame(pub_summary["partitions"]).T.assign(ratio=lambda d: (d.NF / d.FL).round(2))

# %%
fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
plot_partitions(pub_summary, ax=ax[0], title="Published labels (real, 2010-2018)")
plot_class_distribution(published.drop_duplicates("max_class")["peak_flux_wm2"], ax=ax[1],
                        title="Distinct largest-flare classes in the published windows")
plt.tight_layout()
plt.show()

# %% [markdown]
# *Figure 1.2: left, flare (FL) and no-flare (NF) instances per partition of the published data set, with the
# NF:FL ratio; right, cumulative distribution of the distinct largest-flare classes.*

# %% [markdown]
# ## 3. The simulated Sun
# The embedded data set is made by `flarelib.sim.simulator`: active regions emerge in the activity belts, obey
# Hale's and Joy's laws, grow, decay and rotate differentially; a fraction are complex (delta spots with
# strong-gradient polarity inversion lines). Each region flares as a Poisson process whose rate grows with
# Schrijver's R and its flux. The flare catalog it writes is labelled by the same `flarelib.data.labels` code as
# real data.

# %%
store_path = Path(data_path)
if data_source == "simulated":
    config = SimConfig(start=sim_start, end=sim_end, cadence_h=sim_cadence_h, size_px=image_size, seed=seed)
    simulate_to_store(config, store_path, progress=False)
    report = json.loads((store_path / "report.json").read_text())
elif data_source == "real":
    report = None
else:
    raise ValueError(f"data_source must be 'simulated' or 'real', not {data_source!r}")
store = open_store(store_path)
print(f"store {store_path}: {len(store)} images of {store.size_px} px, source {store.manifest.get('source')}")

# %%
if report is not None:
    o = report["oracle"]
    print(f"FL {report['FL']} : NF {report['NF']}  (1 : {report['nf_per_fl']:.1f})")
    print(f"flares seen from Earth: C {report['n_flares']['C']}, M {report['n_flares']['M']}, X {report['n_flares']['X']}")
    print(f"oracle (best possible forecast): TSS {o['tss']:.3f}, HSS {o['hss']:.3f} at threshold {o['threshold']:.2f}")
    if report.get("oracle_present"):
        print(f"present-disk oracle (from the regions on the disk at t only): TSS {report['oracle_present']['tss']:.3f}")

# %%
summary = partition_summary(store.index)
pd.DataFrame(summary["partitions"]).T.assign(ratio=lambda d: (d.NF / d.FL.clip(lower=1)).round(2))

# %% [markdown]
# ### Real and simulated disks side by side

# %%
sim_full = Simulator(SimConfig(start="2012-09-01", end="2012-09-30", cadence_h=24, size_px=512, seed=seed))
busy = int(np.argmax([(sim_full.region_masks(i) > 0).sum() for i in range(0, len(sim_full.times), 6)])) * 6
sim_img = sim_full.frame(busy)
fig, ax = plt.subplots(1, 2, figsize=(11, 5.5))
show_magnetogram(real.data, real.meta.disk_center_px, real.meta.disk_radius_px, ax=ax[0], title="real HMI (2022-08-02)")
show_magnetogram(sim_img, sim_full.config.center_px, sim_full.config.radius_px, ax=ax[1],
                 title=f"simulated ({sim_full.times[busy]:%Y-%m-%d %H:%M})")
plt.tight_layout()
plt.show()

# %% [markdown]
# *Figure 1.3: a real and a simulated 512 x 512 magnetogram on the same 8-bit scale.*

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
plot_histograms({"real HMI": real.data[real.disk_mask],
                 "simulated": sim_img[disk_mask(512, sim_full.config.center_px, sim_full.config.radius_px)]}, ax=ax)
plt.show()
q = [5, 25, 50, 75, 95]
pd.DataFrame({"real": np.percentile(real.data[real.disk_mask], q),
              "simulated": np.percentile(sim_img[disk_mask(512, sim_full.config.center_px, sim_full.config.radius_px)], q)},
             index=[f"p{v}" for v in q])

# %% [markdown]
# *Figure 1.4: histograms of on-disk pixel values; the table gives the percentiles the simulator is calibrated on
# (a test keeps them within 2 counts of the real image).*

# %% [markdown]
# ### The simulated activity

# %%
if data_source == "simulated":
    regions = pd.read_csv(store_path / "regions.csv", parse_dates=["emerge_time"])
    catalog = pd.read_csv(store_path / "catalog.csv")
    fig, ax = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
    plot_butterfly(regions[(regions.emerge_time >= pd.Timestamp(sim_start)) & (regions.emerge_time <= pd.Timestamp(sim_end))], ax=ax[0])
    from flarelib.io.goes import parse_goes_class

    plot_class_distribution([parse_goes_class(c) for c in catalog["goes_class"]], ax=ax[1], label="simulated flares")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# *Figure 1.5: left, latitude and time of emergence of the simulated regions (size: flux; colour: complexity);
# right, the cumulative peak-flux distribution of the simulated flares seen from Earth (a power law).*

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
plot_partitions(summary, ax=ax, title=f"Simulated instances per partition ({data_source})")
plt.show()

# %% [markdown]
# *Figure 1.6: flare and no-flare instances per partition of the data set the next chapters train on.*
#
# ## Summary
# - The real magnetogram reads at 512 x 512 with a header geometry that matches its pixels.
# - The published labels reproduce the paper's counts: 63,649 instances, about 1 flare instance for 6 no-flare ones.
# - The simulator gives a data set labelled the same way, calibrated on the real image, with a known ceiling.
#
# ## What's next
# Chapter 2 trains the full-disk AlexNet on this store with four-fold tri-monthly cross-validation.
