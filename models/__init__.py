"""iongrad.models — forward physics of ion-gradient maintenance.

Transport mechanisms are rate laws written once as SymPy expressions
(:mod:`iongrad.models.mechanisms`), composed into membrane models
(:mod:`iongrad.models.membrane`); NumPy and PyTensor code and every derivative are
generated from them (:mod:`iongrad.models.codegen`, :mod:`iongrad.models.steady_core`).
Every function is vectorised over broadcastable inputs and, where inference needs
it, builds a PyTensor graph when given PyTensor variables.
"""

from iongrad.models.cotransport import cotransport_dg_kJ_mol, max_accumulation_ratio
from iongrad.models.donnan import donnan_equilibrium
from iongrad.models.energy import atp_per_s, budget_share, o2_per_s, power_W
from iongrad.models.errors import ConfigError, DataError, IongradError, ModelInputError
from iongrad.models.fxyd import mixed_pump_rate, na_set_point_mixed_mM, na_set_point_mM
from iongrad.models.glia import k_buffering
from iongrad.models.membrane import COMPOSITIONS, Membrane, composition
from iongrad.models.pump import (
    electrogenic_dv_mV,
    hill_activation,
    pump_current_pA,
    pump_turnover_per_s,
    sphere_area_um2,
    sphere_volume_pL,
)
from iongrad.models.steady_core import solve_membrane
from iongrad.models.steady_state import (
    DEFAULT_PARAMS,
    SteadyState,
    closed_form_steady_state,
    solve_steady_state,
)
from iongrad.models.thermo import (
    electrochemical_dg_kJ_mol,
    ghk_current_pA,
    ghk_voltage_mV,
    mullins_noda_ghk_mV,
    mullins_noda_ohmic_mV,
    nernst_mV,
    ohmic_current_pA,
    pump_cycle_dg_kJ_mol,
)

__all__ = [
    "COMPOSITIONS",
    "DEFAULT_PARAMS",
    "ConfigError",
    "DataError",
    "IongradError",
    "Membrane",
    "ModelInputError",
    "SteadyState",
    "atp_per_s",
    "budget_share",
    "closed_form_steady_state",
    "composition",
    "cotransport_dg_kJ_mol",
    "donnan_equilibrium",
    "electrochemical_dg_kJ_mol",
    "electrogenic_dv_mV",
    "ghk_current_pA",
    "ghk_voltage_mV",
    "hill_activation",
    "k_buffering",
    "max_accumulation_ratio",
    "mixed_pump_rate",
    "mullins_noda_ghk_mV",
    "mullins_noda_ohmic_mV",
    "na_set_point_mM",
    "na_set_point_mixed_mM",
    "nernst_mV",
    "o2_per_s",
    "ohmic_current_pA",
    "power_W",
    "pump_current_pA",
    "pump_cycle_dg_kJ_mol",
    "pump_turnover_per_s",
    "solve_membrane",
    "solve_steady_state",
    "sphere_area_um2",
    "sphere_volume_pL",
]
