"""Default priors for the pump–leak parameters, with their sources.

Every positive parameter gets a log-normal prior ``ln θ ~ Normal(ln median, sd_log)``
(physiologically positive, scale-free). With partial pooling the median becomes
the population median and cells scatter around it with a log-scale SD
``sigma_log ~ HalfNormal(cell_sd_scale)``.

=====================  ==========  ======  ===================================================
parameter              median      sd_log  grounds
=====================  ==========  ======  ===================================================
g_na_nS                0.15 nS     1.0     leak giving Na_i ~ 10–15 mM in a small neuron
g_k_nS                 0.6 nS      1.0     R_in ~ 0.5–1 GΩ of a 10 µm-radius soma
g_cl_nS                0.3 nS      1.0     (only input resistance sees it)
p_na_cm_s              4e-8 cm/s   1.0     P_Na/P_K ~ 0.05–0.1 (Hille)
p_k_cm_s               6e-7 cm/s   1.0     same cell as g_k_nS
p_cl_cm_s              1e-7 cm/s   1.0
g_hco3_nS              0.06 nS     1.0     P_HCO3/P_Cl ~0.2 of GABA-A channels (Bormann et al.
                                           1987 J Physiol 385:243), times g_cl_nS
p_hco3_cm_s            2e-8 cm/s   1.0     the same ratio, times p_cl_cm_s
pump_density_per_um2   1000 /µm²   1.0     250–300 /µm² (taenia coli, Brading & Widdicombe
                                           1974) to ~2,500 /µm² (frog sartorius, Venosa &
                                           Horowicz 1981)
k_na_mM                12 mM       0.5     K½ for Na_i: α1 12, α2 22, α3 33 mM (Zahler et al.
                                           1997 J Gen Physiol 110:201)
turnover_max_per_s     100 /s      0.5     red-cell flux ÷ ouabain sites (J Physiol 1975,
                                           251:671)
atp_per_o2             5           0.1     P/O ≈ 2.5–3, i.e. 5–6 ATP per O2
kcc2_u_pA              5 pA        1.0     Cl_i 4–7 mM against a ~0.1 nS Cl- leak in a
                                           mature neuron (Rivera et al. 1999; Doyon et al.
                                           2011)
nkcc1_u_pA             1 pA        1.0     Cl_i 20–30 mM in an immature neuron (Yamada et al.
                                           2004)
kcc2_jmax_pA           20 pA       1.0     saturable KCC2 (registry default)
nkcc1_jmax_pA          20 pA       1.0     saturable NKCC1 (registry default)
sglt1_jmax_pA          1 pA        1.5     the enterocyte composition's 1 pA; wide (0.05–20
                                           pA in 2 SD): SGLT1 is the main Na+ entry of an
                                           absorbing enterocyte (Wright, Loo & Hirayama
                                           2011, Physiol Rev 91:733), its size per cell is
                                           not known
=====================  ==========  ======  ===================================================

The cotransporter activities are fittable where the composition (``[model]``) has the
mechanism; a parameter the composition lacks is refused by name.

FXYD states use ``k_na_unphos_mM`` and ``k_na_phos_mM`` with the ``k_na_mM`` prior.
Pump density and turnover enter only as their product (pump capacity): fit one
of them and fix the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from iongrad.models.errors import ConfigError
from iongrad.models.quantities import unit_of
from iongrad.models.steady_state import PARAM_UNITS

__all__ = ["DEFAULT_PRIORS", "LogNormalPrior", "prior_for"]


@dataclass(frozen=True)
class LogNormalPrior:
    """``ln θ ~ Normal(ln median, sd_log)``; ``median`` in the parameter's unit."""

    median: float
    sd_log: float
    unit: str
    source: str = ""

    def describe(self) -> str:
        return f"LogNormal(median={self.median:g} {self.unit}, sd_log={self.sd_log:g})"


DEFAULT_PRIORS: dict[str, LogNormalPrior] = {
    "g_na_nS": LogNormalPrior(0.15, 1.0, "nS", "leak giving Na_i 10-15 mM"),
    "g_k_nS": LogNormalPrior(0.6, 1.0, "nS", "R_in ~0.5-1 GOhm small neuron"),
    "g_cl_nS": LogNormalPrior(0.3, 1.0, "nS", ""),
    "p_na_cm_s": LogNormalPrior(4e-8, 1.0, "cm/s", "P_Na/P_K ~0.05-0.1 (Hille)"),
    "p_k_cm_s": LogNormalPrior(6e-7, 1.0, "cm/s", ""),
    "p_cl_cm_s": LogNormalPrior(1e-7, 1.0, "cm/s", ""),
    "g_hco3_nS": LogNormalPrior(0.06, 1.0, "nS", "P_HCO3/P_Cl ~0.2 (Bormann et al. 1987)"),
    "p_hco3_cm_s": LogNormalPrior(2e-8, 1.0, "cm/s", "P_HCO3/P_Cl ~0.2 (Bormann et al. 1987)"),
    "pump_density_per_um2": LogNormalPrior(
        1000.0, 1.0, "sites/µm^2",
        "250-300/µm² (Brading & Widdicombe 1974); ~2500/µm² (Venosa & Horowicz 1981)"),
    "k_na_mM": LogNormalPrior(12.0, 0.5, "mM", "alpha1 K1/2 12 mM (Zahler et al. 1997)"),
    "k_na_unphos_mM": LogNormalPrior(12.0, 0.5, "mM", "as k_na_mM"),
    "k_na_phos_mM": LogNormalPrior(12.0, 0.5, "mM", "as k_na_mM"),
    "turnover_max_per_s": LogNormalPrior(100.0, 0.5, "1/s", "J Physiol 1975, 251:671"),
    "atp_per_o2": LogNormalPrior(5.0, 0.1, "ATP per O2", "P/O 2.5-3"),
    "k_k_mM": LogNormalPrior(1.5, 0.5, "mM", "alpha1 ~1.5 mM (Han et al. 2009)"),
    "a_i_mM": LogNormalPrior(155.0, 0.2, "mM", "impermeant anions"),
    "kcc2_u_pA": LogNormalPrior(5.0, 1.0, "pA", "Cl_i 4-7 mM in mature neurons "
                                "(Rivera et al. 1999; Doyon et al. 2011)"),
    "nkcc1_u_pA": LogNormalPrior(1.0, 1.0, "pA", "Cl_i 20-30 mM in immature neurons "
                                 "(Yamada et al. 2004)"),
    "kcc2_jmax_pA": LogNormalPrior(20.0, 1.0, "pA", "registry default"),
    "nkcc1_jmax_pA": LogNormalPrior(20.0, 1.0, "pA", "registry default"),
    "sglt1_jmax_pA": LogNormalPrior(1.0, 1.5, "pA", "enterocyte composition's 1 pA; SGLT1 "
                                    "the main Na+ entry (Wright, Loo & Hirayama 2011)"),
}

#: Parameters that may be fitted.
FITTABLE = tuple(DEFAULT_PRIORS)


def prior_for(name: str, overrides: dict | None = None) -> LogNormalPrior:
    """The prior of ``name`` with any ``{"median": .., "sd_log": ..}`` override applied."""
    if name not in DEFAULT_PRIORS:
        raise ConfigError(f"parameter {name!r} cannot be fitted; fittable: {sorted(FITTABLE)}")
    base = DEFAULT_PRIORS[name]
    if not overrides:
        return base
    unknown = set(overrides) - {"median", "sd_log"}
    if unknown:
        raise ConfigError(f"priors.{name}: unknown key(s) {sorted(unknown)}; "
                          "allowed: median, sd_log")
    median = overrides.get("median", base.median)
    sd_log = overrides.get("sd_log", base.sd_log)
    for key, val in (("median", median), ("sd_log", sd_log)):
        if not isinstance(val, int | float) or isinstance(val, bool) or not val > 0:
            raise ConfigError(f"priors.{name}.{key} must be a number > 0 "
                              f"(in {base.unit if key == 'median' else 'log units'}); "
                              f"got {val!r}")
    return LogNormalPrior(float(median), float(sd_log), base.unit, base.source)


#: Units of every steady-state and FXYD-state parameter, from the quantity registry.
UNITS: dict[str, str] = {k: unit_of(k) for k in (*PARAM_UNITS, "k_na_unphos_mM",
                                                 "k_na_phos_mM", *DEFAULT_PRIORS)}
