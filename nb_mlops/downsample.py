"""Curves small enough to draw: LTTB downsampling and TensorBoard-style smoothing (numpy only).

`lttb` is Largest-Triangle-Three-Buckets (Steinarsson 2013): the first and last points are kept,
the points between are cut into `n_out - 2` buckets, and each bucket keeps the point that makes
the largest triangle with the point kept in the bucket before and the mean of the bucket after.
The sequential rule is computed by a vectorized fixed-point iteration (see `_lttb_indices`), so
100,000 points become 1,000 in a few milliseconds and the answer is the exact LTTB one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["downsample", "ema", "lttb"]

_MAX_PASSES = 6  # vectorized passes before finishing the unsettled buckets one by one


def lttb(x: np.ndarray, y: np.ndarray, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep `n_out` points of the curve (x, y) that preserve its shape; first and last kept.

    Points come back in their input order (so an increasing x stays increasing). Values must be
    finite (see `downsample`, which drops the rest). A curve of at most `n_out` points is
    returned as is.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 1 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"x and y must be 1-d of the same length, got {x.shape} and {y.shape}")
    n = len(x)
    if n <= n_out:
        return x, y
    if n_out < 2:
        raise ValueError(f"n_out must be at least 2 (the two endpoints), got {n_out}")
    idx = _lttb_indices(x.astype(np.float64, copy=False), y.astype(np.float64, copy=False), n_out)
    return x[idx], y[idx]


def _lttb_indices(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """Indices LTTB keeps.

    Bucket i's choice depends only on bucket i-1's. A first pass chooses in every bucket at once
    against the previous bucket's mean; each later pass recomputes, all at once, the buckets
    whose predecessor's choice moved. When nothing moves, every bucket's choice is the one its
    predecessor's choice gives: the sequential answer. Choices stop moving after a few passes;
    buckets still moving after `_MAX_PASSES` are finished one at a time.
    """
    n = len(x)
    if n_out == 2:
        return np.array([0, n - 1])
    nb = n_out - 2
    bounds = np.arange(nb + 1, dtype=np.int64) * (n - 2) // nb + 1  # exact integer bucket edges
    starts, ends = bounds[:-1], bounds[1:]
    sizes = ends - starts
    cols = np.arange(int(sizes.max()))
    valid = cols[None, :] < sizes[:, None]
    grid = np.where(valid, starts[:, None] + cols[None, :], starts[:, None])
    gx, gy = x[grid], y[grid]
    # c: the mean of the next bucket (the last point for the last bucket)
    mx = np.add.reduceat(x[1 : n - 1], starts - 1) / sizes
    my = np.add.reduceat(y[1 : n - 1], starts - 1) / sizes
    cx = np.append(mx[1:], x[-1])
    cy = np.append(my[1:], y[-1])

    def choose(at: np.ndarray, ax: np.ndarray, ay: np.ndarray) -> np.ndarray:
        """The choice in buckets `at` given the points (ax, ay) before them."""
        ax, ay = ax[:, None], ay[:, None]
        area = np.abs(
            (gx[at] - ax) * (cy[at][:, None] - ay) - (gy[at] - ay) * (cx[at][:, None] - ax)
        )
        area[~valid[at]] = -1.0
        return grid[at, area.argmax(axis=1)]

    todo = np.arange(nb)
    chosen = choose(todo, np.append(x[0], mx[:-1]), np.append(y[0], my[:-1]))
    basis = np.full(nb, -1)  # the kept point each bucket's choice was made against
    for _ in range(_MAX_PASSES):
        prev = np.where(todo > 0, chosen[todo - 1], 0)
        chosen[todo] = choose(todo, x[prev], y[prev])
        basis[todo] = prev
        stale = basis[1:] != chosen[:-1]
        if not stale.any():
            return np.concatenate(([0], chosen, [n - 1]))
        todo = np.flatnonzero(stale) + 1
    # long chains of moves: walk the rest in order, recomputing only stale buckets
    kept, based = chosen.tolist(), basis.tolist()
    cxs, cys = cx.tolist(), cy.tolist()
    for i in range(int(todo[0]), nb):
        a = kept[i - 1] if i else 0
        if based[i] != a:
            ax, ay = float(x[a]), float(y[a])
            area = (gx[i] - ax) * (cys[i] - ay)
            area -= (gy[i] - ay) * (cxs[i] - ax)
            np.abs(area, out=area)
            area[~valid[i]] = -1.0
            kept[i] = int(grid[i, area.argmax()])
    chosen = np.array(kept)
    return np.concatenate(([0], chosen, [n - 1]))


def downsample(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, max_points: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points of the curve (x, y), for drawing.

    A curve of at most `max_points` points comes back as is (as arrays, NaN included: plotters
    draw a gap there). A longer one first loses its points whose x or y is NaN or infinite
    (they cannot be drawn, and LTTB's areas need numbers), then is reduced with `lttb`.
    The arrays returned may be the inputs themselves: do not modify them.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} and {len(y)}")
    if len(y) <= max_points:
        return x, y
    finite = np.isfinite(y)
    if x.dtype.kind == "f":
        finite &= np.isfinite(x)
    if not finite.all():
        x, y = x[finite], y[finite]
    return lttb(x, y, max_points)


def ema(y: Sequence[float] | np.ndarray, weight: float) -> np.ndarray:
    """Smooth like TensorBoard: a debiased exponential moving average of the finite values.

    `weight` in [0, 1): 0 = no smoothing, 0.9 = heavy. Debiasing (dividing by 1 - weight**k after
    k values) keeps the start from being pulled towards 0. Non-finite values are passed through
    and do not enter the average; a constant series comes back unchanged.
    """
    if not 0 <= weight < 1 or math.isnan(weight):
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    values = np.array(y, dtype=np.float64)  # a copy: the result
    finite = np.isfinite(values)
    v = values[finite]
    if weight == 0 or len(v) < 2 or (v == v[0]).all():
        return values
    last = _ema_raw(v, weight)
    count = np.arange(1, len(v) + 1, dtype=np.float64)
    values[finite] = last / -np.expm1(count * math.log(weight))
    return values


def _ema_raw(v: np.ndarray, w: float) -> np.ndarray:
    """s_k = w s_{k-1} + (1 - w) v_k from s_{-1} = 0, vectorized in chunks.

    Within a chunk, s_k = w^(k+1) s_prev + (1 - w) w^k cumsum(w^-j v_j); a chunk is short enough
    that w^-j stays far from overflow.
    """
    n = len(v)
    chunk = max(1, min(n, int(50 * math.log(10) / -math.log(w))))
    j = np.arange(chunk, dtype=np.float64)
    up = np.exp(-j * math.log(w))  # w^-j
    down = np.exp(j * math.log(w))  # w^j
    out = np.empty(n)
    carry = 0.0
    for start in range(0, n, chunk):
        part = v[start : start + chunk]
        m = len(part)
        s = (1 - w) * down[:m] * np.cumsum(up[:m] * part) + carry * w * down[:m]
        out[start : start + m] = s
        carry = s[-1]
    return out
