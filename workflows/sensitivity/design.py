"""Sampling designs: SALib designs in the unit hypercube, mapped to the inputs through their
quantile functions, and the joint-posterior sample."""

from __future__ import annotations

import numpy as np

from iongrad.workflows.sensitivity.posterior import _draws_of

#: Unbounded distributions are cut at these quantiles on Morris grids, whose levels
#: include 0 and 1 exactly (Saltelli et al. 2008, Global Sensitivity Analysis: The Primer).
_MORRIS_TAIL = 0.005


def _quantile_functions(resolved: dict, cache: dict | None = None) -> list:
    """One vectorised quantile function ``u -> x`` per input (physical units);
    ``cache`` shares posterior draws with :func:`_joint_sample`."""
    from scipy import stats

    cache = {} if cache is None else cache
    funcs = []
    for inp in resolved["inputs"]:
        d = inp["dist"]
        if d == "uniform":
            lo, hi = inp["bounds"]
            funcs.append(lambda u, lo=lo, hi=hi: lo + u * (hi - lo))
        elif d == "loguniform":
            lo, hi = np.log(inp["bounds"])
            funcs.append(lambda u, lo=lo, hi=hi: np.exp(lo + u * (hi - lo)))
        elif d == "normal":
            funcs.append(lambda u, m=inp["mean"], s=inp["sd"]: stats.norm.ppf(u, m, s))
        elif d == "lognormal":
            funcs.append(lambda u, m=inp["log_mean"], s=inp["log_sd"]:
                         np.exp(m + s * stats.norm.ppf(u)))
        elif d == "truncnorm":
            m, s = inp["mean"], inp["sd"]
            a, b = ((np.array(inp["bounds"]) - m) / s).tolist()
            funcs.append(lambda u, a=a, b=b, m=m, s=s: stats.truncnorm.ppf(u, a, b, m, s))
        else:  # empirical quantile function of posterior draws (linear interpolation)
            srt = np.sort(_draws_of(inp, cache))
            grid = np.arange(srt.size, dtype=float)
            funcs.append(lambda u, srt=srt, grid=grid: np.interp(u * (srt.size - 1), grid, srt))
    return funcs


def _problem(resolved: dict) -> dict:
    names = [i["name"] for i in resolved["inputs"]]
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def _design(method: str, resolved: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """SALib design in the unit hypercube, shape (rows, D)."""
    problem = _problem(resolved)
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, n, calc_second_order=resolved["second_order"],
                            scramble=True, seed=rng)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(problem, n, num_levels=resolved["num_levels"], seed=rng)
    if method == "efast":
        from SALib.sample import fast_sampler

        return fast_sampler.sample(problem, n, M=resolved["efast_m"], seed=rng)
    from SALib.sample import latin

    return latin.sample(problem, n, seed=rng)


def _to_physical(u: np.ndarray, resolved: dict, funcs: list, method: str) -> np.ndarray:
    x = np.empty_like(u)
    for j, (inp, f) in enumerate(zip(resolved["inputs"], funcs, strict=True)):
        col = u[:, j]
        if method == "morris" and inp["dist"] in ("normal", "lognormal"):
            col = _MORRIS_TAIL + (1.0 - 2.0 * _MORRIS_TAIL) * col
        x[:, j] = f(col)
    return x


def _joint_sample(resolved: dict, rng: np.random.Generator) -> np.ndarray:
    """Rows of the joint posterior (the fitted variables of one draw together, thinned
    evenly to ``joint.n``), with every other input drawn independently from its stated
    distribution; shape (rows, D) in the order of ``resolved["inputs"]``."""
    inputs = resolved["inputs"]
    cache: dict = {}
    cols = {j: _draws_of(inp, cache) for j, inp in enumerate(inputs)
            if inp["source"] == "posterior"}
    total = min(c.size for c in cols.values())
    n = min(resolved["joint"]["n"], total)
    pick = np.unique(np.linspace(0, total - 1, n).round().astype(int))
    funcs = _quantile_functions(resolved, cache)
    x = np.empty((pick.size, len(inputs)))
    for j in range(len(inputs)):
        x[:, j] = cols[j][pick] if j in cols else funcs[j](rng.random(pick.size))
    return x
