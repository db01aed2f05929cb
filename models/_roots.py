"""Vectorised bracketed root finding (NumPy only).

Every routine works on whole arrays at once: one call solves 10^5 scalar
problems. Brackets guarantee progress; a sample is reported unconverged rather
than returned with a silent NaN.
"""

from __future__ import annotations

import numpy as np


def expand_bracket(f, lo, hi, *, step=1.0, max_expand=60):
    """Widen ``[lo, hi]`` until ``f(lo) <= 0 <= f(hi)`` for an increasing ``f``.

    Returns ``lo, hi, f_lo, f_hi, ok`` where ``ok`` flags samples with a sign change.
    """
    lo = np.array(lo, dtype=float, copy=True)
    hi = np.array(hi, dtype=float, copy=True)
    f_lo, f_hi = f(lo), f(hi)
    width = np.full_like(lo, step)
    for _ in range(max_expand):
        need_lo = f_lo > 0
        need_hi = (f_hi < 0) & ~need_lo
        if not (need_lo.any() or need_hi.any()):
            break
        # The end that has the wrong sign becomes the other end; step outward.
        hi, f_hi = np.where(need_lo, lo, hi), np.where(need_lo, f_lo, f_hi)
        lo, f_lo = np.where(need_hi, hi, lo), np.where(need_hi, f_hi, f_lo)
        lo = np.where(need_lo, lo - width, lo)
        hi = np.where(need_hi, hi + width, hi)
        f_lo = np.where(need_lo, f(lo), f_lo)
        f_hi = np.where(need_hi, f(hi), f_hi)
        width = np.where(need_lo | need_hi, width * 2.0, width)
    ok = (f_lo <= 0) & (f_hi >= 0) & np.isfinite(f_lo) & np.isfinite(f_hi)
    return lo, hi, f_lo, f_hi, ok


def ridders(f, lo, hi, f_lo, f_hi, *, xtol=1e-13, ftol=0.0, max_iter=100):
    """Ridders' method on a bracketing interval, vectorised.

    ``f`` must map an array of abscissae (same shape as ``lo``) to residuals. All
    samples are iterated together; converged ones are frozen. A sample converges
    when successive estimates agree to ``xtol`` (relative to max(1, |x|)), the
    bracket is that narrow, or ``|f| <= ftol``. Returns
    ``x, converged, iterations``.
    """
    lo = np.array(lo, dtype=float, copy=True)
    hi = np.array(hi, dtype=float, copy=True)
    f_lo = np.array(f_lo, dtype=float, copy=True)
    f_hi = np.array(f_hi, dtype=float, copy=True)
    x = np.where(np.abs(f_lo) < np.abs(f_hi), lo, hi)
    done = (f_lo == 0) | (f_hi == 0)
    x = np.where(f_lo == 0, lo, np.where(f_hi == 0, hi, x))
    iters = np.zeros(lo.shape, dtype=np.int64)
    for _ in range(max_iter):
        active = ~done
        if not active.any():
            break
        iters = iters + active
        mid = 0.5 * (lo + hi)
        f_mid = f(mid)
        s = np.sqrt(np.maximum(f_mid * f_mid - f_lo * f_hi, 0.0))
        s_safe = np.where(s > 0, s, 1.0)
        new = mid + (mid - lo) * np.sign(f_lo - f_hi) * f_mid / s_safe
        new = np.where(s > 0, new, mid)
        new = np.clip(new, np.minimum(lo, hi), np.maximum(lo, hi))
        f_new = f(new)
        # Shrink the bracket around the root using mid and new.
        a, b = np.minimum(mid, new), np.maximum(mid, new)
        fa = np.where(mid <= new, f_mid, f_new)
        fb = np.where(mid <= new, f_new, f_mid)
        # candidate brackets: [lo, a], [a, b], [b, hi] (f increasing: f_lo<=0<=f_hi)
        c1 = fa >= 0
        c3 = fb <= 0
        n_lo = np.where(c1, lo, np.where(c3, b, a))
        n_hi = np.where(c1, a, np.where(c3, hi, b))
        n_flo = np.where(c1, f_lo, np.where(c3, fb, fa))
        n_fhi = np.where(c1, fa, np.where(c3, f_hi, fb))
        x_prev = x
        lo = np.where(active, n_lo, lo)
        hi = np.where(active, n_hi, hi)
        f_lo = np.where(active, n_flo, f_lo)
        f_hi = np.where(active, n_fhi, f_hi)
        x = np.where(active, np.where(np.abs(f_new) <= np.abs(f_mid), new, mid), x)
        tol = xtol * np.maximum(1.0, np.abs(x))
        hit = (np.abs(f_new) <= ftol) | (np.abs(f_mid) <= ftol)
        small = ((hi - lo) <= tol) | (np.abs(x - x_prev) <= tol)
        done = done | (active & (hit | small))
    return x, done, iters
