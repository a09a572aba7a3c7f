"""The regional flare memory of a rate map: counts land in the right cell at the right time, the fit finds real effects."""
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

from flarelib.errors import InputError
from flarelib.model.history import HistoryHead, _head_loss, cell_flare_history, fit_history_head

SIZE, CELL = 512, 32
CENTRE = (255.5, 255.5)
RADIUS = 196.96


def _index(times):
    return pd.DataFrame({"timestamp": pd.to_datetime(times), "disk_x_px": CENTRE[0], "disk_y_px": CENTRE[1], "disk_r_px": RADIUS})


def _catalog(rows):
    return pd.DataFrame(rows, columns=["start_time", "goes_class", "fl_lon", "fl_lat"])


def test_flares_of_the_last_day_count_in_their_cell_and_older_ones_do_not():
    idx = _index(["2012-03-01 12:00"])
    cat = _catalog([("2012-03-01 11:00", "M2.0", -3.0, 0.0),      # an hour ago near disk centre: counts, as C and as M
                    ("2012-03-01 12:00", "C3.0", -3.0, 0.0),      # starting at the forecast time: counts (labels start after it)
                    ("2012-02-29 11:00", "X1.0", 0.0, 0.0),      # 25 h ago: outside the window
                    ("2012-03-01 13:00", "X1.0", 0.0, 0.0),      # after the forecast time: never
                    ("2012-03-01 10:00", "B5.0", 0.0, 0.0),      # below C1.0
                    ("2012-03-01 10:00", "C5.0", np.nan, 0.0)])  # no position
    h = cell_flare_history(idx, cat, SIZE, CELL, b0_deg=[0.0])
    assert h.shape == (1, 2, 16, 16)
    centre = int(CENTRE[0] // CELL)
    assert h[0, 0, centre, centre] == 2 and h[0, 1, centre, centre] == 1
    assert h.sum() == 3


def test_a_flares_position_rotates_west_to_the_forecast_time():
    # 20 h of rotation at the equator: about 11 deg west, RADIUS * sin(11 deg) = 38 px, more than one cell
    idx = _index(["2012-03-02 08:00"])
    h = cell_flare_history(idx, _catalog([("2012-03-01 12:00", "C1.0", 0.0, 0.0)]), SIZE, CELL, b0_deg=[0.0])
    row, col = np.argwhere(h[0, 0])[0]
    x_expected = CENTRE[0] + RADIUS * np.sin(np.radians(20 / 24 * 13.2))
    assert col == int(x_expected // CELL) and col > int(CENTRE[0] // CELL)
    assert row == int(CENTRE[1] // CELL)
    # north is up: a flare at +30 deg latitude lands in a row above the centre's
    h = cell_flare_history(idx, _catalog([("2012-03-02 07:00", "C1.0", 0.0, 30.0)]), SIZE, CELL, b0_deg=[0.0])
    assert np.argwhere(h[0, 0])[0][0] < int(CENTRE[1] // CELL)


def test_a_flare_rotated_past_the_limb_stays_on_the_limbs_cells():
    idx = _index(["2012-03-02 08:00"])
    h = cell_flare_history(idx, _catalog([("2012-03-01 09:00", "C1.0", 85.0, 0.0)]), SIZE, CELL, b0_deg=[0.0])
    _, col = np.argwhere(h[0, 0])[0]
    assert col == int((CENTRE[0] + RADIUS) // CELL)


def test_the_catalog_schema_is_checked():
    with pytest.raises(InputError, match="start_time"):
        cell_flare_history(_index(["2012-03-01"]), pd.DataFrame({"x": [1]}), SIZE, CELL)
    with pytest.raises(InputError, match="cell_px"):
        cell_flare_history(_index(["2012-03-01"]), _catalog([]), SIZE, 30)


def test_the_heads_gradient_is_the_losss():
    rng = np.random.default_rng(0)
    n, c = 50, 9
    lr, f = rng.normal(-4, 1, (n, c)), np.log1p(rng.poisson(0.5, (n, 2, c)).astype(float))
    y, w = rng.integers(0, 2, n), rng.uniform(0.5, 2, n) / n
    for theta in (np.array([0.0, 1.0, 0.0, 0.0]), np.array([0.3, 0.6, 0.8, -0.4])):
        _, grad = _head_loss(theta, lr, f, y, w)
        numeric = approx_fprime(theta, lambda t: _head_loss(t, lr, f, y, w)[0], 1e-6)
        assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def test_an_empty_head_is_the_network_and_the_fit_finds_the_memory_the_data_hold():
    rng = np.random.default_rng(1)
    n, g = 4000, 4
    lr = rng.normal(-3.5, 0.7, (n, g, g))
    hist = np.zeros((n, 2, g, g), np.float32)
    hot = rng.random(n) < 0.3
    hist[hot, 0, 1, 1] = rng.integers(1, 4, hot.sum())
    assert np.allclose(HistoryHead().probability(lr, hist), -np.expm1(-np.exp(lr).sum((1, 2))))
    truth = HistoryHead(log_scale=0.2, image_weight=0.5, beta_c=1.0, beta_m=0.0)
    y = (rng.random(n) < truth.probability(lr, hist)).astype(int)
    fit = fit_history_head(lr, hist, y)
    assert fit.n_fit == n and 0.6 < fit.beta_c < 1.4 and abs(fit.image_weight - 0.5) < 0.2
    # with the image weight held at 1 the history only multiplies the network's rates
    assert fit_history_head(lr, hist, y, fit_image_weight=False).image_weight == 1.0
    # no memory in the outcomes: none found
    y0 = (rng.random(n) < HistoryHead(0.2, 0.5).probability(lr, hist)).astype(int)
    assert abs(fit_history_head(lr, hist, y0).beta_c) < 0.3
    with pytest.raises(InputError, match="both outcomes"):
        fit_history_head(lr, hist, np.zeros(n, int))
    with pytest.raises(InputError, match="do not match"):
        fit_history_head(lr[:10], hist, y)
