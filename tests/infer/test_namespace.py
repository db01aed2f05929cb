"""One source of truth: every model function inference uses builds a PyTensor graph
whose compiled value equals the NumPy value on random inputs."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from iongrad.models import (
    closed_form_steady_state,
    donnan_equilibrium,
    electrochemical_dg_kJ_mol,
    ghk_current_pA,
    ghk_voltage_mV,
    hill_activation,
    max_accumulation_ratio,
    mullins_noda_ghk_mV,
    mullins_noda_ohmic_mV,
    na_set_point_mM,
    nernst_mV,
    pump_current_pA,
    pump_cycle_dg_kJ_mol,
    pump_turnover_per_s,
)
from iongrad.models.thermo import ghk_phi_d1 as ghk_slope_factor
from iongrad.models.thermo import u_over_one_minus_exp_neg_u

RNG = np.random.default_rng(42)
N = 64


def conc(lo=1.0, hi=200.0):
    return np.exp(RNG.uniform(np.log(lo), np.log(hi), N))


def volts():
    return RNG.uniform(-120.0, 60.0, N)


def _check(fn, *arrays, **kw):
    syms = [pt.dvector(f"a{i}") for i in range(len(arrays))]
    sym_out = fn(*syms, **kw)
    np_out = fn(*arrays, **kw)
    if isinstance(sym_out, dict):
        keys = sorted(sym_out)
        f = pytensor.function(syms, [sym_out[k] for k in keys], on_unused_input="ignore")
        for k, got in zip(keys, f(*arrays), strict=True):
            np.testing.assert_allclose(got, np_out[k], rtol=1e-12, atol=1e-12, err_msg=k)
    else:
        f = pytensor.function(syms, sym_out, on_unused_input="ignore")
        np.testing.assert_allclose(f(*arrays), np_out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("fn", "args", "kw"), [
    (nernst_mV, lambda: (conc(), conc()), {"z": 1}),
    (nernst_mV, lambda: (conc(), conc()), {"z": -1}),
    (ghk_current_pA, lambda: (np.concatenate([volts()[:-4], [0.0, 1e-9, -1e-6, 1e-4]]),
                              conc(), conc(), conc(1e-8, 1e-6), conc(100, 2e4)), {"z": 1}),
    (ghk_current_pA, lambda: (volts(), conc(), conc(), conc(1e-8, 1e-6), conc(100, 2e4)),
     {"z": -1}),
    (ghk_voltage_mV, lambda: (conc(), conc(), conc(), conc(), conc(), conc()), {}),
    (electrochemical_dg_kJ_mol, lambda: (conc(), conc(), np.ones(N), volts()), {}),
    (pump_cycle_dg_kJ_mol, lambda: (conc(), conc(), conc(), conc(), volts()), {}),
    (mullins_noda_ohmic_mV, lambda: (conc(0.01, 10), conc(0.01, 10), volts(), volts()), {}),
    (mullins_noda_ghk_mV, lambda: (conc(), conc(), conc(), conc(), conc(), conc()), {}),
    (hill_activation, lambda: (conc(), conc(), conc(0.5, 4)), {}),
    (pump_turnover_per_s, lambda: (conc(), conc(0.5, 20)), {}),
    (pump_current_pA, lambda: (conc(10, 3000), conc(100, 2e4), conc(1, 200)), {}),
    (na_set_point_mM, lambda: (conc(0.1, 0.9), np.ones(N), conc(5, 30)), {}),
    (donnan_equilibrium, lambda: (conc(), conc(), conc(), conc()), {}),
    (max_accumulation_ratio, lambda: (conc(), conc(), volts()), {}),
    (u_over_one_minus_exp_neg_u, lambda: (np.concatenate([RNG.uniform(-40, 40, N - 3),
                                                          [0.0, 1e-5, -1e-5]]),), {}),
    (ghk_slope_factor, lambda: (np.concatenate([RNG.uniform(-40, 40, N - 3),
                                                [0.0, 1e-5, -1e-5]]),), {}),
])
def test_numpy_and_pytensor_agree(fn, args, kw):
    _check(fn, *args(), **kw)


def test_closed_form_agrees():
    def fn(na_i, k_i, g_na, g_k):
        return closed_form_steady_state(na_i, k_i, 145.0, 4.0, g_na_nS=g_na, g_k_nS=g_k)

    _check(fn, conc(5, 30), conc(100, 160), conc(0.05, 1), conc(0.2, 5))
