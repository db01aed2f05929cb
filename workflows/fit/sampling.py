"""NUTS and the predictive draws of a fit, the same for every model kind.

:func:`sample` runs the posterior (PyMC's NUTS, or nutpie for a steady-state fit), refuses
a posterior that came back short after an interruption, then adds the prior predictive,
the posterior predictive, the log density of the top-level priors (for power-scaling
prior sensitivity) and the pointwise log-likelihood (for ``iongrad compare``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import Any

import pymc as pm

from iongrad.infer.chains import sampler_cores
from iongrad.infer.interrupts import check_complete_posterior, sampling_guard
from iongrad.infer.loglik import add_log_likelihood
from iongrad.infer.model import prior_terms
from iongrad.infer.sampler_log import sample_posterior_predictive, sampler_log
from iongrad.models.errors import ConfigError

__all__ = ["backend_kwargs", "sample"]


def backend_kwargs(sampler: Mapping[str, Any]) -> dict:
    """``pm.sample`` arguments of the chosen NUTS implementation (``[sampler] backend``)."""
    if sampler.get("backend", "pymc") == "pymc":
        return {"init": sampler["init"]} if "init" in sampler else {}
    try:
        import nutpie  # noqa: F401
    except ImportError:
        raise ConfigError("sampler.backend = 'nutpie' needs nutpie: pip install "
                          "'iongrad[nutpie]' (or choose backend = 'pymc')") from None
    # nutpie adapts its own mass matrix (no `init`); the model is compiled by
    # PyTensor's numba backend, where the steady-state Op runs compiled code
    return {"nuts_sampler": "nutpie", "nuts_sampler_kwargs": {"backend": "numba"}}


def sample(model, obs_rows: Mapping[str, Any], sampler: Mapping[str, Any], *,
           progress: bool = False):
    """Posterior, prior and posterior predictive draws, log prior and log-likelihood.

    Parameters
    ----------
    model : pymc.Model
        The fit's model.
    obs_rows : mapping
        Observed variable -> its data rows' coordinates (the builder's ``obs_rows``),
        the dimensions of the pointwise log-likelihood.
    sampler : mapping
        The resolved ``[sampler]`` table (``seed``, ``draws``, ``tune``, ``chains``,
        ``cores``, ``target_accept``, ``prior_draws`` and optionally ``init``,
        ``backend``). Prior predictive draws use ``seed + 1``, posterior predictive
        draws ``seed + 2``.
    progress : bool
        Progress bars and PyMC's log lines on stderr.

    Returns
    -------
    (idata, timings) : tuple
        The InferenceData and ``{"sample_s", "predictive_s"}`` plus
        ``"chain_execution"`` (the note of :func:`iongrad.infer.chains.sampler_cores`)
        when the chains ran one after the other instead of in parallel.

    Raises
    ------
    ConfigError
        When the log-probability is not finite at the starting point.
    iongrad.infer.interrupts.IncompletePosterior
        When sampling was interrupted (never returns a truncated posterior).
    """
    s = sampler
    seed = s["seed"]
    cores, chain_note = sampler_cores(s["cores"], s["chains"])
    t0 = time.perf_counter()
    with model, warnings.catch_warnings(), sampler_log(progress):
        # The feasibility Potential only rules out parameter sets without a steady state;
        # predictive draws come from posterior draws, which all have one.
        warnings.filterwarnings("ignore", message="The effect of Potentials")
        try:
            with sampling_guard():
                idata = pm.sample(draws=s["draws"], tune=s["tune"], chains=s["chains"],
                                  cores=cores, target_accept=s["target_accept"],
                                  random_seed=seed, progressbar=progress,
                                  compute_convergence_checks=False, **backend_kwargs(s))
            # PyMC returns the draws so far when interrupted: never keep those
            check_complete_posterior(idata, draws=s["draws"], chains=s["chains"])
        except pm.exceptions.SamplingError as exc:
            bad = ", ".join(f"{k}={v}" for k, v in
                            getattr(exc, "initial_point", {}).items()) or "see [fixed]"
            raise ConfigError(
                "the model cannot be evaluated at its starting point (log-probability "
                f"not finite); check the [fixed] values and priors ({bad})") from None
        t1 = time.perf_counter()
        idata.extend(pm.sample_prior_predictive(draws=s["prior_draws"],
                                                random_seed=seed + 1))
        sample_posterior_predictive(model, idata, seed=seed + 2, progress=progress,
                                    extend=True)
        # the log density of the top-level priors in every draw, for power-scaling prior
        # sensitivity (az.psens); the cell-level terms of a hierarchy are part of the
        # model's structure, not a prior to be power-scaled (Kallioinen et al. 2023)
        pm.compute_log_prior(idata, var_names=prior_terms(model), progressbar=False)
        add_log_likelihood(idata, model, obs_rows)
    timings: dict[str, Any] = {"sample_s": t1 - t0, "predictive_s": time.perf_counter() - t1}
    if chain_note:
        timings["chain_execution"] = chain_note
    return idata, timings
