"""Random designs of membrane parameters shared by the test folders (importable as
``_designs``: ``tests`` is on pytest's ``pythonpath``)."""

from __future__ import annotations

import numpy as np

from iongrad.models.membrane import Membrane


def random_design(m: Membrane, n: int, rng, spread: float = 0.7) -> dict[str, np.ndarray]:
    """The membrane's defaults, with every rate or conductance of a transport process
    and the bath K+ varied log-uniformly by ``e^±spread``."""
    p = {k: np.full(n, float(v)) for k, v in m.defaults().items()}
    vary = [k for k in p if k.startswith(("g_", "p_na", "p_k", "p_cl", "kcc2_", "nkcc1_",
                                          "ncx_k_pA", "pmca_max", "sglt1_jmax",
                                          "pump_density"))]
    for k in vary:
        if p[k][0] > 0:
            p[k] = p[k] * np.exp(rng.uniform(-spread, spread, n))
    p["k_o_mM"] = p["k_o_mM"] * np.exp(rng.uniform(-0.4, 0.4, n))
    return p
