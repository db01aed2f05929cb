"""Sensitivity indices that stay valid when the inputs are dependent (given-data estimators).

Sobol indices from a Saltelli design need independent inputs. Draws from a fitted
posterior are not independent (a fit of resting potentials identifies ratios such as
g_Na/g_K and leaves a ridge), so on a joint posterior sample ``(X, Y)`` — any sample,
no special design — this module estimates:

* **Shapley effects** (Owen 2014; Song, Nelson & Staum 2016): the share of ``Var(Y)``
  that input ``i`` accounts for, averaging its contribution over every order in which
  inputs can be added, ``Sh_i = (1/d) Σ_{u ⊆ -i} C(d-1, |u|)^{-1} (W(u ∪ {i}) - W(u))``
  with ``W(u) = Var(E[Y | X_u]) / Var(Y)``. They are non-negative and sum to 1 even
  with dependent inputs: interaction and dependence are shared fairly among the inputs
  involved.
  ``W(u)`` is estimated from the sample itself by the nearest-neighbour estimator of
  Broto, Bachoc & Depecker (2020, SIAM/ASA JUQ 8:693): ``E[Var(Y | X_u)]`` is the mean,
  over sample points, of the variance of ``Y`` among the point and its ``k - 1`` nearest
  neighbours in the (rank-standardised) ``X_u`` coordinates, corrected by ``k/(k-1)``.
* **First-order given-data indices** ``S_i = Var(E[Y | X_i]) / Var(Y)`` by the rank
  estimator of Gamboa, Klein & Lagnoux (2018, SIAM/ASA JUQ 6:1173), related to
  Chatterjee's rank correlation: sort by ``X_i`` and correlate each ``Y`` with that of
  its successor. With dependent inputs ``S_i`` includes the effect of ``X_i``'s correlated
  partners (it is not "the effect of ``X_i`` alone").

Intervals are bootstrap percentile intervals over the sample points.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "first_order_given_data",
    "gaussian_linear_w",
    "shapley_effects",
    "shapley_from_w",
]


def _ranks01(x: np.ndarray) -> np.ndarray:
    """Column ranks scaled to (0, 1): the neighbourhoods do not depend on units or on
    monotone transformations of an input."""
    order = np.argsort(x, axis=0, kind="stable")
    r = np.empty_like(order, dtype=float)
    n = x.shape[0]
    for j in range(x.shape[1]):
        r[order[:, j], j] = np.arange(n)
    return (r + 0.5) / n


def first_order_given_data(x, y, *, n_boot: int = 200, seed: int = 0,
                           level: float = 0.95) -> dict[str, np.ndarray]:
    """Rank-based first-order indices ``Var(E[Y|X_i])/Var(Y)`` from one sample.

    Parameters
    ----------
    x : array_like, shape (n, d)
        Input sample (any joint distribution).
    y : array_like, shape (n,)
        Model output at each row.
    n_boot : int
        Bootstrap replicates for the interval.
    seed : int
        Seed of the bootstrap generator.
    level : float
        Interval level.

    Returns
    -------
    dict
        ``S1`` (d,), ``S1_low``, ``S1_high`` (d,).
    """
    x, y = _check(x, y)
    n, d = x.shape
    # per point: Y times the Y of its successor in the order of X_i (cyclic); the
    # bootstrap resamples these products (resampling the points themselves would pair
    # duplicates with each other and bias the estimate upwards)
    prod = np.empty((n, d))
    for j in range(d):
        o = np.argsort(x[:, j], kind="stable")
        ysort = y[o]
        prod[o, j] = ysort * np.roll(ysort, -1)

    def est(idx):
        ys = y if idx is None else y[idx]
        pr = prod if idx is None else prod[idx]
        return (pr.mean(axis=0) - ys.mean() ** 2) / ys.var()

    s1 = est(None)
    rng = np.random.default_rng(seed)
    boot = np.array([est(rng.integers(0, n, n)) for _ in range(n_boot)])
    a = (1 - level) / 2
    return {"S1": s1, "S1_low": np.quantile(boot, a, axis=0),
            "S1_high": np.quantile(boot, 1 - a, axis=0)}


def _subsets(d: int):
    for k in range(1, d):
        yield from combinations(range(d), k)


def shapley_from_w(w: dict[tuple[int, ...], float], d: int) -> np.ndarray:
    """Shapley effects from the closed-index values ``W(u)`` of every subset ``u``
    (``W(()) = 0``, ``W(all) = 1``)."""
    sh = np.zeros(d)
    for i in range(d):
        others = [j for j in range(d) if j != i]
        for k in range(d):
            weight = 1.0 / (d * math.comb(d - 1, k))
            for u in combinations(others, k):
                with_i = tuple(sorted((*u, i)))
                sh[i] += weight * (w[with_i] - w[u])
    return sh


def shapley_effects(x, y, *, k: int = 4, n_boot: int = 100, seed: int = 0,
                    level: float = 0.95) -> dict[str, np.ndarray]:
    """Shapley effects of every input from one joint sample (nearest-neighbour estimator).

    Parameters
    ----------
    x : array_like, shape (n, d)
        Input sample (dependent inputs allowed: e.g. joint posterior draws).
    y : array_like, shape (n,)
        Model output at each row.
    k : int
        Neighbourhood size (the point and its ``k - 1`` nearest neighbours; Broto et al.
        use 2–4: small ``k`` lowers the bias of the conditional variance).
    n_boot : int
        Bootstrap replicates over the sample points (the neighbourhoods are kept; the
        interval reflects the averaging, not the neighbour search).
    seed : int
        Seed of the bootstrap generator.
    level : float
        Interval level.

    Returns
    -------
    dict
        ``Sh`` (d,), ``Sh_low``, ``Sh_high`` (d,), and ``W``: the estimated closed
        indices of every subset (tuple of column indices -> value).

    Notes
    -----
    Cost: ``2^d - 2`` neighbour searches (KD-trees) on ``n`` points; 8 inputs and 4000
    points take a few seconds.
    """
    x, y = _check(x, y)
    n, d = x.shape
    if not 2 <= k <= n:
        raise ValueError(f"k must be in [2, n = {n}]; got {k}")
    if d < 2:
        raise ValueError("Shapley effects need at least 2 inputs")
    r = _ranks01(x)
    var = y.var()
    rng = np.random.default_rng(seed)
    boot_idx = rng.integers(0, n, (n_boot, n))
    # per-point local variance for each subset; W(u) = 1 - E[Var(Y|X_u)]/Var(Y)
    local: dict[tuple[int, ...], np.ndarray] = {}
    for u in _subsets(d):
        tree = cKDTree(r[:, u])
        _, nb = tree.query(r[:, u], k=k)
        yy = y[nb]
        local[u] = yy.var(axis=1) * k / (k - 1)
    full = tuple(range(d))

    def w_of(weights_idx):
        w = {(): 0.0, full: 1.0}
        v = var if weights_idx is None else y[weights_idx].var()
        for u, lv in local.items():
            m = lv.mean() if weights_idx is None else lv[weights_idx].mean()
            w[u] = 1.0 - m / v
        return w

    w = w_of(None)
    sh = shapley_from_w(w, d)
    boot = np.array([shapley_from_w(w_of(idx), d) for idx in boot_idx])
    a = (1 - level) / 2
    return {"Sh": sh, "Sh_low": np.quantile(boot, a, axis=0),
            "Sh_high": np.quantile(boot, 1 - a, axis=0), "W": w}


def gaussian_linear_w(beta, cov) -> dict[tuple[int, ...], float]:
    """Exact closed indices ``W(u)`` of ``Y = βᵀX``, ``X ~ N(μ, Σ)`` (Owen & Prieur 2017):
    ``Var(Y | X_u) = β_vᵀ (Σ_vv - Σ_vu Σ_uu⁻¹ Σ_uv) β_v`` with ``v`` the complement of
    ``u``, constant in ``X_u``; so ``W(u) = 1 - Var(Y | X_u)/Var(Y)``."""
    beta = np.asarray(beta, dtype=float)
    cov = np.asarray(cov, dtype=float)
    d = beta.size
    total = float(beta @ cov @ beta)
    w = {(): 0.0, tuple(range(d)): 1.0}
    for u in _subsets(d):
        v = [j for j in range(d) if j not in u]
        su = cov[np.ix_(u, u)]
        svu = cov[np.ix_(v, u)]
        cond = cov[np.ix_(v, v)] - svu @ np.linalg.solve(su, svu.T)
        w[u] = 1.0 - float(beta[v] @ cond @ beta[v]) / total
    return w


def _check(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (n, d) and y (n,); got {x.shape} and {y.shape}")
    if x.shape[0] < 10:
        raise ValueError(f"need at least 10 sample points; got {x.shape[0]}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite (drop infeasible rows first)")
    if not y.var() > 0:
        raise ValueError("the output is constant on this sample: no variance to share")
    return x, y
