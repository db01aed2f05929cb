"""SALib analyzers, as tidy rows of indices."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np

from iongrad.workflows.sensitivity.design import _problem


@contextlib.contextmanager
def _global_numpy_state() -> Iterator[None]:
    """Restore NumPy's global RNG after SALib analyzers that call ``np.random.seed``."""
    state = np.random.get_state()  # noqa: NPY002 (protecting, not using, the global RNG)
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _rows(output, method, index, names, values, conf=None, *, design, n_rows):
    out = []
    for j, name in enumerate(names):
        v = float(values[j])
        c = float(conf[j]) if conf is not None else float("nan")
        out.append({"output": output, "method": method, "index": index, "parameter": name,
                    "parameter2": "", "value": v, "conf": c,
                    "ci_low": v - c if conf is not None else float("nan"),
                    "ci_high": v + c if conf is not None else float("nan"),
                    "design": design, "n_rows": n_rows})
    return out


def _analyze(method: str, resolved: dict, u: np.ndarray, y: np.ndarray, output: str,
             seed: int, *, design: str) -> list[dict]:
    """Run one SALib analyzer; return tidy rows. ``y`` must be finite everywhere."""
    if not np.all(np.isfinite(y)):
        raise RuntimeError("internal error: non-finite model output reached SALib")
    problem = _problem(resolved)
    names = problem["names"]
    kw = {"design": design, "n_rows": int(y.size)}
    nr, cl = resolved["num_resamples"], resolved["conf_level"]
    with _global_numpy_state(), np.errstate(all="ignore"):
        if method == "sobol":
            from SALib.analyze import sobol

            si = sobol.analyze(problem, y, calc_second_order=resolved["second_order"],
                               num_resamples=nr, conf_level=cl, seed=seed)
            rows = (_rows(output, method, "S1", names, si["S1"], si["S1_conf"], **kw)
                    + _rows(output, method, "ST", names, si["ST"], si["ST_conf"], **kw))
            if resolved["second_order"]:
                for a in range(len(names)):
                    for b in range(a + 1, len(names)):
                        r = _rows(output, method, "S2", [names[a]], [si["S2"][a, b]],
                                  [si["S2_conf"][a, b]], **kw)[0]
                        r["parameter2"] = names[b]
                        rows.append(r)
            return rows
        if method == "efast":
            from SALib.analyze import fast

            with warnings.catch_warnings():
                # SALib warns on every call that eFAST bootstrap intervals are indicative
                # only; run.json's notes say so for every eFAST run (_failure_report)
                warnings.filterwarnings("ignore", category=UserWarning,
                                        message="FAST confidence intervals are estimated")
                si = fast.analyze(problem, y, M=resolved["efast_m"], num_resamples=nr,
                                  conf_level=cl, seed=seed)
            return (_rows(output, method, "S1", names, si["S1"], si["S1_conf"], **kw)
                    + _rows(output, method, "ST", names, si["ST"], si["ST_conf"], **kw))
        if method == "morris":
            from SALib.analyze import morris

            si = morris.analyze(problem, u, y, num_resamples=nr, conf_level=cl,
                                num_levels=resolved["num_levels"], seed=seed)
            return (_rows(output, method, "mu_star", names, si["mu_star"], si["mu_star_conf"],
                          **kw)
                    + _rows(output, method, "mu", names, si["mu"], **kw)
                    + _rows(output, method, "sigma", names, si["sigma"], **kw))
        if method == "delta":
            from SALib.analyze import delta

            si = delta.analyze(problem, u, y, num_resamples=nr, conf_level=cl, seed=seed)
            return (_rows(output, method, "delta", names, si["delta_raw"],
                          si["delta_raw_conf"], **kw)
                    + _rows(output, method, "delta_balanced", names, si["delta_balanced"],
                            si["delta_balanced_conf"], **kw)
                    + _rows(output, method, "S1", names, si["S1"], si["S1_conf"], **kw))
        from SALib.analyze import pawn

        si = pawn.analyze(problem, u, y, S=resolved["pawn_slices"], seed=seed)
        return (_rows(output, method, "PAWN", names, si["median"], **kw)
                + _rows(output, method, "PAWN_max", names, si["maximum"], **kw))


def _analysis_seed(rng: np.random.Generator) -> int:
    # SALib analyzers test ``if seed:``; a positive draw keeps them deterministic.
    return int(rng.integers(1, 2**31 - 1))
