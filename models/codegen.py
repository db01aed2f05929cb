"""Numerical code generated from the symbolic rate laws of :mod:`iongrad.models.mechanisms`.

Each generated function takes its inputs positionally (in the order given when it
was generated) and returns a tuple of arrays. Common subexpressions are shared
(SymPy ``cse``); the GHK function and its derivatives are evaluated by the stable
implementations of :mod:`iongrad.models.thermo`, so that the generated code is
exact through ``V = 0`` and never overflows where the closed forms would.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp

from iongrad.models import thermo
from iongrad.models._backend import is_symbolic
from iongrad.models.mechanisms.base import ghk_phi, ghk_phi_d1, ghk_phi_d2

__all__ = ["numpy_function"]

def _min(*args):
    out = args[0]
    for a in args[1:]:
        out = np.minimum(out, a)
    return out


def _max(*args):
    out = args[0]
    for a in args[1:]:
        out = np.maximum(out, a)
    return out


#: Largest argument of exp in generated code: e^700 ≈ 1e304 stays finite, so that a
#: state far from any root (a concentration e^{FV/RT} at a huge trial V) gives a large,
#: signed residual instead of inf - inf.
EXP_CLAMP = 700.0


def _exp(a):
    return np.exp(np.minimum(a, EXP_CLAMP))


class ghk_pick(sp.Function):
    """``ghk_pick(u, k)``: item ``k`` of (Φ(u), Φ(-u), Φ'(u), Φ'(-u), Φ''(u), Φ''(-u)).

    Generated code only: every GHK call on ``±u`` becomes a pick from one family
    evaluation of ``u`` (two transcendental calls instead of two per call).
    """

    nargs = 2


_PICK_OF = {ghk_phi: 0, ghk_phi_d1: 2, ghk_phi_d2: 4}


def _to_picks(e: sp.Expr) -> sp.Expr:
    def pick(f):
        u = f.args[0]
        k = _PICK_OF[type(f)]
        if u.could_extract_minus_sign():
            return ghk_pick(-u, k + 1)
        return ghk_pick(u, k)
    return e.replace(lambda a: isinstance(a, ghk_phi | ghk_phi_d1 | ghk_phi_d2), pick)


class _FamilyCache(threading.local):
    key = None
    order = -1
    values: tuple = ()


_FAMILY = _FamilyCache()


def _forget_family() -> None:
    """Drop the cached family: a pick is shared only within one generated evaluation
    (an input array could be changed in place between two calls)."""
    _FAMILY.key = None
    _FAMILY.values = ()


def _ghk_pick(u, k):
    """Evaluate a pick; consecutive picks on the same array object share one family."""
    k = int(k)
    order = max(k // 2, 1)  # Φ' costs a few products once t and m are known
    c = _FAMILY
    if c.key is not u or c.order < order:
        c.values = thermo.ghk_phi_family_np(u, order)
        c.key, c.order = u, order
    return c.values[k]


# (the GHK functions need no entry: every generated expression goes through _to_picks)
_NUMPY_MODULE = {"Min": _min, "Max": _max, "amin": _min, "amax": _max,
                 "exp": _exp, "ghk_pick": _ghk_pick}


def numpy_function(args: Sequence[sp.Symbol], exprs: Sequence[sp.Expr]) -> Callable:
    """A vectorised NumPy function ``f(*args) -> tuple`` of ``exprs``.

    Outputs broadcast against the inputs (a constant expression comes back as a
    scalar; callers broadcast).
    """
    f = sp.lambdify(list(args), [_to_picks(e) for e in exprs],
                    modules=[_NUMPY_MODULE, "numpy"], cse=True,
                    docstring_limit=0)

    def call(*values):
        try:
            return tuple(f(*values))
        finally:
            _forget_family()

    call.__doc__ = f"Generated from {len(exprs)} expression(s) of {len(args)} input(s)."
    return call


# --------------------------------------------------------------------------------------
# Loop-invariant hoisting
# --------------------------------------------------------------------------------------
class HoistedFunction:
    """Generated code split into a part that depends on parameters only and a part that
    depends on the iteration variables.

    ``prepare(*params) -> tuple`` computes every maximal subexpression free of the
    variables once; ``__call__(*variables, *prepared) -> tuple`` evaluates the outputs.
    Iterative solvers call ``prepare`` once and the evaluation in every iteration.
    """

    def __init__(self, variables: Sequence[sp.Symbol], params: Sequence[sp.Symbol],
                 exprs: Sequence[sp.Expr]):
        var_set = set(variables)
        reps, reduced = sp.cse([_to_picks(e) for e in exprs], symbols=sp.numbered_symbols("_c"),
                               optimizations=None)
        dependent: list[tuple[sp.Symbol, sp.Expr]] = []
        invariant: dict[sp.Expr, sp.Symbol] = {}
        varying = set(var_set)
        counter = iter(sp.numbered_symbols("_p"))

        def hoist(e: sp.Expr) -> sp.Expr:
            if not (e.free_symbols & varying):
                if e.is_Number or not e.free_symbols:
                    return e
                if e not in invariant:
                    invariant[e] = next(counter)
                return invariant[e]
            if e.is_Atom:
                return e
            if isinstance(e, sp.Add | sp.Mul):
                fixed = [a for a in e.args if not (a.free_symbols & varying)]
                moving = [hoist(a) for a in e.args if a.free_symbols & varying]
                if fixed:
                    fixed = [hoist(e.func(*fixed) if len(fixed) > 1 else fixed[0])]
                return e.func(*fixed, *moving, evaluate=False)
            return e.func(*(hoist(a) for a in e.args))

        inv_reps: list[tuple[sp.Symbol, sp.Expr]] = []
        for sym, e in reps:
            if e.free_symbols & varying:
                varying.add(sym)
                dependent.append((sym, hoist(e)))
            else:
                inv_reps.append((sym, e))
        out = [hoist(e) for e in reduced]
        # invariant cse symbols used by the varying part are prepared values too
        inv_syms = {s for s, _ in inv_reps}
        used = set().union(*(e.free_symbols for _, e in dependent), *(e.free_symbols
                                                                    for e in out))
        prepared = [(s, e) for e, s in invariant.items()]
        prepared += [(s, s) for s in sorted(used & inv_syms, key=str)]
        self._prepared_syms = [s for s, _ in prepared]
        defs = dict(inv_reps)
        #: the split, symbolically (for printers of compiled code)
        self.dependent = list(dependent)
        self.outputs = list(out)

        def expand(e):
            # the invariant cse symbols inside a prepared expression, substituted back
            return e.xreplace(defs) if e.free_symbols & inv_syms else e

        prep_exprs = [e for _, e in prepared]
        while any(e.free_symbols & inv_syms for e in prep_exprs):  # cse nests: unwind
            prep_exprs = [expand(e) for e in prep_exprs]
        self.prepared = list(zip(self._prepared_syms, prep_exprs, strict=True))
        self.prepare_fn = sp.lambdify(list(params), prep_exprs or [sp.S.Zero],
                                      modules=[_NUMPY_MODULE, "numpy"], cse=True,
                                      docstring_limit=0)
        self._n_prepared = len(prep_exprs)
        self.eval_fn = sp.lambdify(
            [*variables, *self._prepared_syms], out,
            modules=[_NUMPY_MODULE, "numpy"], cse=lambda exprs: (dependent, list(exprs)),
            docstring_limit=0)

    def prepare(self, *params) -> tuple:
        if not self._n_prepared:
            return ()
        try:
            return tuple(self.prepare_fn(*params))
        finally:
            _forget_family()

    def __call__(self, *values) -> tuple:
        try:
            return tuple(self.eval_fn(*values))
        finally:
            _forget_family()


# --------------------------------------------------------------------------------------
# PyTensor graphs
# --------------------------------------------------------------------------------------
def pytensor_graph(exprs: Sequence[sp.Expr], env: dict[sp.Symbol, Any]) -> list:
    """PyTensor expressions of ``exprs`` with each symbol replaced by ``env[symbol]``.

    Shared subtrees are translated once. The GHK function and its derivatives use
    the namespace-generic implementations of :mod:`iongrad.models.thermo` (the same
    formulas as the NumPy code), so gradients are finite through ``V = 0``.
    """
    import pytensor.tensor as pt

    memo: dict[sp.Expr, Any] = {}
    specials = {ghk_phi: thermo.u_over_one_minus_exp_neg_u, ghk_phi_d1: thermo.ghk_phi_d1,
                ghk_phi_d2: thermo.ghk_phi_d2}

    def tr(e):
        if e in memo:
            return memo[e]
        if e.is_Symbol:
            out = env[e]
        elif e.is_Number:
            out = pt.constant(float(e), dtype="float64")
        elif isinstance(e, sp.Add):
            args = [tr(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                out = out + a
        elif isinstance(e, sp.Mul):
            args = [tr(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                out = out * a
        elif isinstance(e, sp.Pow):
            base, ex = e.args
            if ex == -1:
                out = 1.0 / tr(base)
            elif ex == 2:
                b = tr(base)
                out = b * b
            elif ex == sp.Rational(1, 2):
                out = pt.sqrt(tr(base))
            else:
                out = tr(base) ** tr(ex)
        elif isinstance(e, sp.exp):
            out = pt.exp(tr(e.args[0]))
        elif isinstance(e, sp.log):
            out = pt.log(tr(e.args[0]))
        elif isinstance(e, sp.Abs):
            out = pt.abs(tr(e.args[0]))
        elif isinstance(e, sp.Min):
            args = [tr(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                out = pt.minimum(out, a)
        elif isinstance(e, sp.Max):
            args = [tr(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                out = pt.maximum(out, a)
        elif type(e) in specials:
            out = specials[type(e)](tr(e.args[0]))
        else:
            raise NotImplementedError(f"no PyTensor translation for {type(e).__name__} "
                                      f"in {e}")
        memo[e] = out
        return out

    return [tr(sp.sympify(e)) for e in exprs]


# --------------------------------------------------------------------------------------
# Scalar code (math module; numba compiles the same functions)
# --------------------------------------------------------------------------------------
def phi_scalar(u: float) -> float:
    """Scalar ``Φ(u)``: the formulas and cut-off of :func:`thermo.ghk_phi_family_np`."""
    a = abs(u)
    if a < thermo._SERIES_CUTOFF:
        u2 = u * u
        return 1.0 + u / 2.0 + u2 / 12.0 - u2 * u2 / 720.0
    t = math.exp(-a)
    m = -math.expm1(-a)
    return a / m if u >= 0 else a * t / m


def phi_d1_scalar(u: float) -> float:
    """Scalar ``Φ'(u)`` (see :func:`phi_scalar`)."""
    a = abs(u)
    if a < thermo._SERIES_CUTOFF_D1:
        u2 = u * u
        return 0.5 + u / 6.0 - u2 * u / 180.0 + u2 * u2 * u / 5040.0
    t = math.exp(-a)
    m = -math.expm1(-a)
    return (m - a * t) / (m * m) if u >= 0 else t * (a - m) / (m * m)


_SCALAR_MODULE = {ghk_phi.__name__: phi_scalar, ghk_phi_d1.__name__: phi_d1_scalar,
                  "exp": lambda a: math.exp(min(a, EXP_CLAMP)), "Min": min, "Max": max}


def scalar_function(args: Sequence[sp.Symbol], exprs: Sequence[sp.Expr]) -> Callable:
    """A scalar function ``f(*args) -> list`` of ``exprs`` on Python floats (math module),
    for per-sample reference solvers; same formulas as :func:`numpy_function`."""
    return sp.lambdify(list(args), list(exprs), modules=[_SCALAR_MODULE, "math"], cse=True,
                       docstring_limit=0)


class Evaluator:
    """Evaluate fixed expressions of named symbols on NumPy arrays or PyTensor variables.

    ``Evaluator(symbols, exprs)(*values)`` returns one result per expression (a tuple);
    NumPy inputs run generated NumPy code (built on first use), PyTensor inputs build a
    graph (:func:`pytensor_graph`). This is how the public functions of
    :mod:`iongrad.models` compute from the mechanisms' rate laws.
    """

    def __init__(self, symbols: Sequence[sp.Symbol], exprs: Sequence[sp.Expr]):
        self.symbols = tuple(symbols)
        self.exprs = tuple(exprs)
        self._np = None

    def __call__(self, *values):
        if any(is_symbolic(v) for v in values):
            import pytensor.tensor as pt

            env = {s: pt.as_tensor_variable(v) for s, v in zip(self.symbols, values,
                                                               strict=True)}
            return tuple(pytensor_graph(self.exprs, env))
        if self._np is None:
            self._np = numpy_function(self.symbols, self.exprs)
        return self._np(*values)
