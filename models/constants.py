"""Physical constants (CODATA 2018 exact values) and unit conventions.

Units used throughout :mod:`iongrad`
-----------------------------------
potential mV · concentration mM (= mol/m^3) · conductance nS · current pA ·
permeability cm/s · length µm · area µm^2 · volume pL · time s · temperature K ·
energy kJ/mol · rates 1/s.
"""

from __future__ import annotations

from numpy.typing import ArrayLike

#: Molar gas constant, J/(mol K) (CODATA 2018, exact).
R_J_PER_MOL_K = 8.314462618
#: Faraday constant, C/mol (CODATA 2018, exact).
F_C_PER_MOL = 96485.33212
#: Elementary charge, C (CODATA 2018, exact).
E_CHARGE_C = 1.602176634e-19
#: Avogadro constant, 1/mol (CODATA 2018, exact).
N_A_PER_MOL = 6.02214076e23
#: Default temperature, K (37 °C).
T_DEFAULT_K = 310.0

#: Pump stoichiometry: Na+ out, K+ in and net charges out per cycle.
PUMP_NA_PER_CYCLE = 3
PUMP_K_PER_CYCLE = 2
#: Mullins–Noda coupling ratio r = Na+/K+ per cycle.
PUMP_COUPLING_RATIO = PUMP_NA_PER_CYCLE / PUMP_K_PER_CYCLE


def rt_over_f_mV(temperature_K: ArrayLike = T_DEFAULT_K) -> ArrayLike:
    """Thermal voltage RT/F in mV at temperature ``temperature_K`` (K)."""
    return R_J_PER_MOL_K * temperature_K / F_C_PER_MOL * 1e3
