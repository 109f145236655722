"""LTTB downsampling, `downsample` for drawing, and TensorBoard-style smoothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nb_mlops import downsample as ds
from nb_mlops.downsample import downsample, ema, lttb


def reference_lttb(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """The textbook sequential LTTB (Steinarsson), returning the kept indices."""
    n = len(x)
    nb = n_out - 2
    kept, a = [0], 0
    for i in range(nb):
        lo, hi = i * (n - 2) // nb + 1, (i + 1) * (n - 2) // nb + 1
        nlo, nhi = hi, min((i + 2) * (n - 2) // nb + 1, n)
        if i == nb - 1:
            nlo, nhi = n - 1, n
        cx, cy = x[nlo:nhi].mean(), y[nlo:nhi].mean()
        area = np.abs((x[lo:hi] - x[a]) * (cy - y[a]) - (y[lo:hi] - y[a]) * (cx - x[a]))
        a = lo + int(area.argmax())
        kept.append(a)
    kept.append(n - 1)
    return np.array(kept)


def kept_indices(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """Indices of the points lttb kept (x = 0..n-1 makes them the x values)."""
    assert (x == np.arange(len(x))).all()
    return lttb(x, y, n_out)[0].astype(int)


@pytest.mark.parametrize("shape", ["walk", "noise", "sine", "steps"])
def test_lttb_is_exactly_the_sequential_algorithm(shape: str) -> None:
    rng = np.random.default_rng(7)
    for trial in range(40):
        n = int(rng.integers(5, 4000))
        n_out = int(rng.integers(3, n))
        x = np.arange(n, dtype=float)
        y = {
            "walk": np.cumsum(rng.normal(size=n)),
            "noise": rng.normal(size=n),
            "sine": np.sin(x / (3 + trial)),
            "steps": np.floor(x / 17) % 3,
        }[shape]
        got = kept_indices(x, y, n_out)
        np.testing.assert_array_equal(got, reference_lttb(x, y, n_out), err_msg=f"n={n} k={n_out}")


def test_lttb_finishing_one_bucket_at_a_time_gives_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(3)
    x = np.arange(20_000, dtype=float)
    y = rng.normal(size=20_000)
    expected = reference_lttb(x, y, 300)
    for passes in (0, 1, 3):
        monkeypatch.setattr(ds, "_MAX_PASSES", passes)
        np.testing.assert_array_equal(kept_indices(x, y, 300), expected)


def test_lttb_keeps_endpoints_length_and_order() -> None:
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0, 1e9, 100_000)) + 1.7e9  # unix-time-like x
    y = np.cumsum(rng.normal(size=100_000))
    ox, oy = lttb(x, y, 1000)
    assert len(ox) == len(oy) == 1000
    assert (ox[0], oy[0]) == (x[0], y[0])
    assert (ox[-1], oy[-1]) == (x[-1], y[-1])
    assert (np.diff(ox) > 0).all()  # increasing x stays increasing
    pos = np.searchsorted(x, ox)
    np.testing.assert_array_equal(y[pos], oy)  # every point kept is an input point


def test_lttb_picks_the_spike_in_a_flat_series() -> None:
    y = np.zeros(10_000)
    y[6_543] = 5.0
    y[2_000] = -3.0
    x = np.arange(10_000)
    ox, oy = lttb(x, y, 50)
    assert 6_543 in ox and 5.0 in oy
    assert 2_000 in ox and -3.0 in oy


def test_lttb_short_input_comes_back_as_is_and_bad_arguments_are_refused() -> None:
    x, y = np.arange(5), np.array([1.0, 2, 3, 4, 5])
    ox, oy = lttb(x, y, 5)
    assert ox is x and oy is y
    ox, oy = lttb(x, y, 2)
    assert list(ox) == [0, 4] and list(oy) == [1.0, 5.0]
    with pytest.raises(ValueError, match="at least 2"):
        lttb(x, y, 1)
    with pytest.raises(ValueError, match="same length"):
        lttb(np.arange(4), y, 3)
    ox, oy = lttb([0, 1, 2, 3], [0.0, 9.0, 1.0, 0.0], 3)  # lists work too
    assert list(ox) == [0, 1, 3]


def test_downsample_short_curves_come_back_with_their_gaps() -> None:
    x = np.arange(4)
    y = np.array([1.0, math.nan, 3.0, math.inf])
    ox, oy = downsample(x, y, max_points=10)
    assert len(ox) == 4 and math.isnan(oy[1]) and oy[3] == math.inf


def test_downsample_long_curves_drop_non_finite_then_reduce() -> None:
    rng = np.random.default_rng(1)
    n = 100_000
    x = np.arange(n)
    y = rng.normal(size=n)
    y[::7] = math.nan
    y[5] = -math.inf
    ox, oy = downsample(x, y)
    assert len(ox) == len(oy) == 2000
    assert np.isfinite(oy).all()
    assert ox[0] == 1 and ox[-1] == n - 1  # first and last finite points are kept
    assert (np.diff(ox) > 0).all()
    # few finite points left: no reduction needed after dropping the rest
    y2 = np.full(5000, math.nan)
    y2[:30] = 1.0
    ox, oy = downsample(np.arange(5000), y2, max_points=100)
    assert len(ox) == 30 and np.isfinite(oy).all()
    with pytest.raises(ValueError, match="differ in length"):
        downsample([1, 2], [1.0])


def naive_ema(values: list[float], w: float) -> list[float]:
    """TensorBoard's smoothing loop, transcribed."""
    last, k, out = 0.0, 0, []
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        last = last * w + (1 - w) * v
        k += 1
        out.append(last / (1 - w**k))
    return out


def test_ema_known_values() -> None:
    np.testing.assert_allclose(ema([1.0, 2.0, 3.0], 0.5), [1.0, 5 / 3, 17 / 7])
    np.testing.assert_allclose(ema([4.0, 0.0], 0.9), [4.0, 0.9 * 0.4 / 0.19])
    assert list(ema([3.0, 1.0], 0.0)) == [3.0, 1.0]  # 0 = no smoothing
    assert list(ema([2.0, 2.0, 2.0], 0.99)) == [2.0, 2.0, 2.0]  # constant stays exact
    assert len(ema([], 0.5)) == 0


def test_ema_passes_non_finite_values_through() -> None:
    got = ema([1.0, math.nan, 3.0, math.inf, 5.0], 0.5)
    want = naive_ema([1.0, math.nan, 3.0, math.inf, 5.0], 0.5)
    assert math.isnan(got[1]) and got[3] == math.inf
    np.testing.assert_allclose(got[[0, 2, 4]], np.array(want)[[0, 2, 4]])


@pytest.mark.parametrize("w", [0.01, 0.3, 0.6, 0.9, 0.99, 0.999])
def test_ema_matches_the_loop_on_long_series(w: float) -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=30_000) * 1000 + 50
    np.testing.assert_allclose(ema(y, w), naive_ema(list(y), w), rtol=1e-9, atol=1e-6)


def test_ema_returns_a_new_array_and_refuses_bad_weights() -> None:
    y = np.array([1.0, 2.0, 4.0])
    out = ema(y, 0.5)
    assert out is not y and list(y) == [1.0, 2.0, 4.0]
    for bad in (1.0, -0.1, 2, math.nan):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            ema(y, bad)
