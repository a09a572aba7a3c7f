"""Figures: each function draws what its table says, on the axes given, with labelled units."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from flarelib.plots import (  # noqa: E402
    plot_data_curve,
    plot_fold_heatmap,
    plot_learning_curves,
    plot_reliability,
    plot_skill_intervals,
    plot_stratified_skill,
    show_magnetogram,
)
from flarelib.verify.metrics import reliability  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_reliability_diagram_plots_the_non_empty_bins():
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.1, 0.95, 0.9, 0.55, 0.5])
    table = reliability(y, p)
    ax = plot_reliability({"m": table})
    line = ax.lines[1]  # after the diagonal
    ok = table["count"] > 0
    assert np.allclose(line.get_xdata(), table.loc[ok, "mean_forecast"]) and np.allclose(line.get_ydata(), table.loc[ok, "observed_frequency"])
    sharp = ax.figure.axes[1]  # beneath: instances per bin (sharpness), on a log scale
    assert "probability" in sharp.get_xlabel() and sharp.get_yscale() == "log"
    assert np.allclose(sharp.lines[0].get_ydata()[:-1], table["count"])
    # on axes of the caller's, no sharpness panel is added
    _, own = plt.subplots()
    assert plot_reliability({"m": table}, ax=own) is own and len(own.figure.axes) == 1 and "probability" in own.get_xlabel()


def test_stratified_skill_draws_each_forecast_in_each_stratum_with_its_interval():
    a = pd.DataFrame({"stratum": ["2011", "2012"], "tss": [0.5, 0.2], "tss_lo": [0.4, 0.0], "tss_hi": [0.6, 0.3]})
    b = pd.DataFrame({"stratum": ["2012"], "tss": [0.1], "tss_lo": [-0.1], "tss_hi": [0.2]})
    ax = plot_stratified_skill({"a": a, "b": b}, base_rate=pd.Series({"2011": 0.2, "2012": 0.1}))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2011", "2012"]
    line_a, line_b = (c.lines[0] for c in ax.containers)  # the data line of each forecast's error bars
    assert np.allclose(line_a.get_ydata(), [0.5, 0.2]) and np.isnan(line_b.get_ydata()[0]) and line_b.get_ydata()[1] == pytest.approx(0.1)
    assert line_a.get_xdata()[1] < line_b.get_xdata()[1]  # side by side within a stratum
    segs = ax.containers[0].lines[2][0].get_segments()  # a's vertical bars
    assert [(float(s[0][1]), float(s[1][1])) for s in segs] == [pytest.approx((0.4, 0.6)), pytest.approx((0.0, 0.3))]
    bars = ax.figure.axes[1].patches
    assert [round(p.get_height(), 3) for p in bars] == [0.2, 0.1]


def test_skill_intervals_draw_each_row_with_its_interval():
    t = pd.DataFrame({"forecast": ["a", "b"], "tss": [0.5, 0.2], "tss_lo": [0.4, -0.1], "tss_hi": [0.6, 0.3]})
    ax = plot_skill_intervals(t)
    segs = ax.collections[0].get_segments()  # the horizontal error bars: (x from, y), (x to, y)
    spans = {float(s[0][1]): (float(s[0][0]), float(s[1][0])) for s in segs}
    rows = {tick.get_text(): y for tick, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert rows["a"] > rows["b"]  # the table's first row on top
    assert spans[rows["a"]] == pytest.approx((0.4, 0.6)) and spans[rows["b"]] == pytest.approx((-0.1, 0.3))


def test_fold_heatmap_annotates_the_values():
    s = pd.DataFrame([[0.1, 0.25], [0.5, 0.75]], index=["model", "persistence"], columns=["fold 1", "fold 2"])
    ax = plot_fold_heatmap(s)
    assert sorted(tx.get_text() for tx in ax.texts) == ["0.10", "0.25", "0.50", "0.75"]


def test_magnetogram_is_shown_on_the_full_byte_scale_with_its_disk():
    img = np.zeros((32, 32), np.uint8)
    ax = show_magnetogram(img, (15.5, 15.5), 12.0)
    assert ax.images[0].get_clim() == (0, 255)
    circle = ax.patches[0]
    assert circle.get_radius() == 12.0 and tuple(circle.center) == (15.5, 15.5)


def test_learning_curves_show_collapse_and_gradients_when_logged():
    log = pd.DataFrame({"fold": [1, 1, 2, 2], "epoch": [1, 2, 1, 2], "train_loss": [0.7, 0.6, 0.7, 0.65], "val_loss": [0.7, 0.68, 0.7, 0.7],
                        "val_tss": [0.1, 0.2, 0.0, 0.0], "val_forecast_positive": [0.4, 0.5, 0.0, 0.0], "grad_norm": [1.0, 2.0, 0.5, 0.1]})
    ax = plot_learning_curves(log)
    assert len(ax) == 4 and ax[2].get_ylabel() == "share forecast 'flare'"
    assert list(ax[2].lines[1].get_ydata()) == [0.0, 0.0]  # fold 2 stuck at "never a flare": visible as a flat line at 0
    assert len(plot_learning_curves(log.drop(columns=["val_forecast_positive", "grad_norm"]))) == 2  # older logs still plot


def test_data_curve_draws_every_seed_and_their_mean():
    curve = pd.DataFrame({"train_frames": [100, 100, 300, 300], "model_seed": [0, 1, 0, 1], "auc": [0.6, 0.7, 0.75, 0.77],
                          "tss": [0.1, 0.2, 0.3, 0.4], "forecast_positive": [0.1, 0.1, 0.2, 0.2]})
    axes = plot_data_curve(curve)
    assert len(axes) == 3 and axes[0].get_xscale() == "log" and axes[0].get_ylabel() == "ROC AUC"
    mean = axes[1].get_lines()[0].get_ydata()
    assert np.allclose(mean, [0.15, 0.35]) and len(axes[1].collections[0].get_offsets()) == 4
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["100", "300"]
