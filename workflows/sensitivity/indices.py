"""What the indices say: rankings and whether their intervals resolve them, the convergence
criterion and which outputs were analysed."""

from __future__ import annotations

import math

#: The index a ranking is made by, per method.
_MAIN_INDEX = {"sobol": "ST", "efast": "ST", "morris": "mu_star", "delta": "delta",
               "pawn": "PAWN", "shapley": "Sh", "given_data": "S1"}


def _joint_notes(rows: list[dict], joint_rows: list[dict]) -> list[str]:
    """Plain-words comparison of the top input on the joint posterior (Shapley) and on
    the independent marginals (the SALib method's main index)."""
    notes = []
    for o in dict.fromkeys(r["output"] for r in joint_rows):
        sh = sorted((r for r in joint_rows if r["output"] == o and r["method"] == "shapley"),
                    key=lambda r: -r["value"])
        ind = sorted((r for r in rows if r["output"] == o and r["design"] == "main"
                      and r["index"] == _MAIN_INDEX.get(r["method"]) and not r["parameter2"]),
                     key=lambda r: -r["value"])
        if not sh or not ind:
            continue
        if sh[0]["parameter"] == ind[0]["parameter"]:
            notes.append(f"{o}: {sh[0]['parameter']} ranks first both on the joint posterior "
                         f"(Shapley {sh[0]['value']:.3g}) and on the independent marginals "
                         f"({ind[0]['method']} {ind[0]['index']} {ind[0]['value']:.3g}).")
        else:
            notes.append(
                f"{o}: on the joint posterior {sh[0]['parameter']} ranks first (Shapley "
                f"{sh[0]['value']:.3g}); on the independent marginals "
                f"{ind[0]['parameter']} does ({ind[0]['method']} {ind[0]['index']} "
                f"{ind[0]['value']:.3g}). The marginals combine parameter values the "
                "posterior rules out (its correlations, e.g. a ridge along a ratio that the "
                "data identify), so the joint ranking describes the cell the data support.")
    return notes


def ranking_resolution(rows: list[dict], n_by_design: dict[str, int]) -> list[dict]:
    """Whether each printed ranking's top two inputs are separated by their intervals.

    Per output, method and design: the two inputs with the largest main index, whether
    their intervals overlap, and — when they do — the sample size at which they would
    not, assuming the half-widths shrink as ``1/sqrt(n)`` (``n_needed``; ``None`` when
    the two values are equal).
    """
    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["parameter2"] or r["index"] != _MAIN_INDEX.get(r["method"]):
            continue
        groups.setdefault((r["output"], r["method"], r["design"]), []).append(r)
    for (output, method, design), rs in groups.items():
        rs = sorted(rs, key=lambda r: -r["value"])
        if len(rs) < 2:
            continue
        a, b = rs[0], rs[1]
        lo_a = a["ci_low"] if math.isfinite(a["ci_low"]) else a["value"]
        hi_b = b["ci_high"] if math.isfinite(b["ci_high"]) else b["value"]
        resolved_ = lo_a > hi_b
        gap = a["value"] - b["value"]
        hw = (max(a["value"] - lo_a, 0.0) + max(hi_b - b["value"], 0.0))
        n = n_by_design.get(design)
        need = None
        if not resolved_ and gap > 0 and hw > 0 and n:
            need = math.ceil(n * (hw / gap) ** 2)
        out.append({"output": output, "method": method, "design": design,
                    "first": a["parameter"], "second": b["parameter"],
                    "gap": gap, "resolved": bool(resolved_), "n": n, "n_needed": need})
    return out


def _resolution_notes(res: list[dict]) -> list[str]:
    notes = []
    for r in res:
        if r["resolved"]:
            continue
        more = (f"about n = {r['n_needed']} would separate them (intervals shrinking as "
                "1/sqrt(n))" if r["n_needed"] else "their values are equal")
        notes.append(f"{r['output']} ({r['method']}, {r['design']}): the intervals do not "
                     f"separate {r['first']} from {r['second']} at n = {r['n']}, so their "
                     f"order in the ranking is not resolved; {more}.")
    return notes


def _outcome(resolved: dict, res: dict) -> dict:
    """Which requested outputs were analysed, which were not and why, in one message.

    ``status`` is ``"complete"`` (every requested output analysed), ``"partial"`` or
    ``"nothing_analysed"``.
    """
    handling = res["handling"]
    failures = res["failures"]
    requested = list(resolved["outputs"])
    analysed = [o for o in requested if handling.get(o, {}).get("status", "").startswith(
        "analysed")]
    skipped = {o: handling.get(o, {}).get("reason", "not analysed") for o in requested
               if o not in analysed}
    n, n_bad = failures["n_samples"], failures["n_infeasible"]
    if not skipped:
        return {"status": "complete", "analysed": analysed, "skipped": {}, "message": ""}
    if n_bad == n:
        why = (f"none of the {n} samples of the design has a physical steady state, so no "
               "index could be computed for any output. The inputs' bounds and [fixed] values "
               "describe a cell whose pump cannot balance its leaks (or whose volume cannot "
               "be stable) anywhere in the design: check units and ranges against the "
               "parameter table (run.json 'failures.where' lists what was sampled).")
    else:
        why = (f"{len(skipped)} of {len(requested)} requested output(s) could not be "
               f"analysed ({n_bad} of {n} samples infeasible): "
               + "; ".join(f"{o}: {r}" for o, r in skipped.items()))
    status = "nothing_analysed" if not analysed else "partial"
    return {"status": status, "analysed": analysed, "skipped": skipped, "message": why}


def _max_st_halfwidth(rows: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        if r["index"] == "ST" and r["design"] == "main" and r["output"] != "feasible":
            out[r["output"]] = max(out.get(r["output"], 0.0), r["conf"])
    return out
