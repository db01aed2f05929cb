"""Which inputs decide whether a cell has a steady state: a short readable rule.

When part of a sensitivity design has no physical steady state, the indices say nothing
about *where* that happens. This module fits a depth-2 classification tree (CART, Gini
impurity; Breiman et al. 1984) to "feasible or not" on the inputs — in log units for
positive inputs, so that a threshold reads as a ratio — on 70 % of the samples, and
reports its accuracy on the other 30 %, next to the accuracy of always guessing the
majority class. The rule is written in physical units ("no steady state when
pump_density_per_um2 < 410 and g_na_nS > 0.21"), and the two inputs that remove the
most impurity are the axes of the plot of the feasible/infeasible boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FailureRule", "failure_rule", "plot_failure_region"]

_MAX_THRESHOLDS = 256
_MIN_LEAF = 10


@dataclass(frozen=True)
class FailureRule:
    """A depth-2 tree for "no steady state" and how well it does on held-out samples."""

    text: str
    accuracy: float
    baseline_accuracy: float
    n_train: int
    n_test: int
    decisive: tuple[str, ...]
    splits: tuple[dict, ...]

    def as_dict(self) -> dict:
        return {"rule": self.text, "held_out_accuracy": self.accuracy,
                "majority_class_accuracy": self.baseline_accuracy, "n_train": self.n_train,
                "n_test": self.n_test, "decisive_inputs": list(self.decisive),
                "splits": list(self.splits),
                "method": "depth-2 CART tree (Gini) on log inputs and log ratios of pairs; "
                          "70/30 train/test split"}


def _gini(pos, tot):
    p = np.where(tot > 0, pos / np.maximum(tot, 1), 0.0)
    return 2 * p * (1 - p)


def _best_split(z: np.ndarray, bad: np.ndarray):
    """Best (feature, threshold, impurity decrease) for a node; None when nothing helps."""
    n = bad.size
    parent = _gini(bad.sum(), n) * n
    best = None
    for j in range(z.shape[1]):
        o = np.argsort(z[:, j], kind="stable")
        zs, bs = z[o, j], bad[o]
        cum = np.cumsum(bs)
        cand = np.flatnonzero(zs[1:] > zs[:-1])  # split between cand and cand + 1
        cand = cand[(cand + 1 >= _MIN_LEAF) & (n - cand - 1 >= _MIN_LEAF)]
        if cand.size == 0:
            continue
        if cand.size > _MAX_THRESHOLDS:
            cand = cand[np.linspace(0, cand.size - 1, _MAX_THRESHOLDS).round().astype(int)]
        left = cand + 1
        lpos = cum[cand]
        rpos = cum[-1] - lpos
        imp = _gini(lpos, left) * left + _gini(rpos, n - left) * (n - left)
        k = int(np.argmin(imp))
        gain = parent - imp[k]
        if gain > 1e-12 and (best is None or gain > best[2]):
            best = (j, 0.5 * (zs[cand[k]] + zs[cand[k] + 1]), gain)
    return best


def _fit(z, bad):
    root = _best_split(z, bad)
    if root is None:
        return None
    j, t, g = root
    children = []
    for side in (z[:, j] <= t, z[:, j] > t):
        sub = _best_split(z[side], bad[side]) if bad[side].any() and (~bad[side]).any() \
            else None
        leaves = []
        if sub is None:
            leaves.append(bad[side].mean() > 0.5)
        else:
            jj, tt, _ = sub
            for s2 in (z[side][:, jj] <= tt, z[side][:, jj] > tt):
                leaves.append(bad[side][s2].mean() > 0.5 if s2.any() else False)
        children.append((sub, leaves))
    return (j, t, g), children


def _predict(tree, z):
    (j, t, _), children = tree
    out = np.zeros(z.shape[0], dtype=bool)
    for side, (sub, leaves) in zip((z[:, j] <= t, z[:, j] > t), children, strict=True):
        if sub is None:
            out[side] = leaves[0]
        else:
            jj, tt, _ = sub
            out[side & (z[:, jj] <= tt)] = leaves[0]
            out[side & (z[:, jj] > tt)] = leaves[1]
    return out


def failure_rule(x, feasible, names, *, seed: int = 0) -> FailureRule | None:
    """The depth-2 rule for infeasibility on the design ``x`` (physical units).

    Returns None when every sample (or none) is feasible, or when fewer than 40 samples
    are available.
    """
    x = np.asarray(x, dtype=float)
    bad = ~np.asarray(feasible, dtype=bool)
    names = list(names)
    if x.shape[0] < 40 or not bad.any() or bad.all():
        return None
    logged = [bool(np.all(x[:, j] > 0)) for j in range(x.shape[1])]
    # features: every input (log units where positive) and every ratio of two positive
    # inputs (a boundary such as "load per pump above c" is one split on a ratio)
    feats = [(j,) for j in range(x.shape[1])]
    cols = [np.log(x[:, j]) if logged[j] else x[:, j] for j in range(x.shape[1])]
    pos = [j for j in range(x.shape[1]) if logged[j]]
    for a_, b_ in ((a_, b_) for i, a_ in enumerate(pos) for b_ in pos[i + 1:]):
        feats.append((a_, b_))
        cols.append(np.log(x[:, a_]) - np.log(x[:, b_]))
    z = np.column_stack(cols)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(x.shape[0])
    cut = int(0.7 * x.shape[0])
    train, test = perm[:cut], perm[cut:]
    # two candidates, chosen on the training samples: single inputs only (most readable)
    # and inputs plus ratios (kept only when it fits the training samples clearly better)
    d = x.shape[1]
    tree = _fit(z[train][:, :d], bad[train])
    with_ratios = _fit(z[train], bad[train]) if z.shape[1] > d else None
    if tree is None and with_ratios is None:
        return None

    def train_acc(t):
        return -1.0 if t is None else float(np.mean(_predict(t, z[train]) == bad[train]))

    if train_acc(with_ratios) > train_acc(tree) + 0.01:
        tree = with_ratios
    acc = float(np.mean(_predict(tree, z[test]) == bad[test]))
    base = float(max(bad[test].mean(), 1 - bad[test].mean()))

    def label(f):
        return names[feats[f][0]] if len(feats[f]) == 1 else \
            f"{names[feats[f][0]]}/{names[feats[f][1]]}"

    def value(f, t):
        return float(np.exp(t)) if len(feats[f]) == 2 or logged[feats[f][0]] else float(t)

    def cond(f, t, le):
        return f"{label(f)} {'<=' if le else '>'} {value(f, t):.3g}"

    (j, t, g), children = tree
    gains: dict[int, float] = {}

    def credit(f, gain):
        for k in feats[f]:
            gains[k] = gains.get(k, 0.0) + gain / len(feats[f])

    credit(j, g)
    clauses, splits = [], [{"input": label(j), "threshold": value(j, t), "level": 1,
                            "inputs": [names[k] for k in feats[j]]}]
    for le, (sub, leaves) in zip((True, False), children, strict=True):
        first = cond(j, t, le)
        if sub is None:
            if leaves[0]:
                clauses.append(first)
            continue
        jj, tt, gg = sub
        credit(jj, gg)
        splits.append({"input": label(jj), "threshold": value(jj, tt), "level": 2,
                       "under": first, "inputs": [names[k] for k in feats[jj]]})
        for le2, leaf in zip((True, False), leaves, strict=True):
            if leaf:
                clauses.append(f"{first} and {cond(jj, tt, le2)}")
    decisive = tuple(names[k] for k in sorted(gains, key=lambda k: -gains[k]))
    text = ("no steady state when " + " or when ".join(clauses)) if clauses else \
        "the tree finds no region where most samples are infeasible"
    return FailureRule(text=text, accuracy=acc, baseline_accuracy=base, n_train=train.size,
                       n_test=test.size, decisive=decisive[:2], splits=tuple(splits))


def plot_failure_region(path, x, feasible, names, rule: FailureRule, units=None) -> None:
    """Feasible and infeasible samples in the two most decisive inputs, with the rule's
    thresholds; written as PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    names = list(names)
    pick = list(rule.decisive) + [n for n in names if n not in rule.decisive]
    a = names.index(pick[0])
    b = names.index(pick[1]) if len(pick) > 1 else a
    feas = np.asarray(feasible, dtype=bool)
    fig, ax = plt.subplots(figsize=(6.0, 4.6))
    ax.scatter(x[feas, a], x[feas, b], s=4, alpha=0.4, label="steady state found")
    ax.scatter(x[~feas, a], x[~feas, b], s=4, alpha=0.6, color="tab:red",
               label="no physical steady state")
    xs = np.geomspace(max(x[:, a].min(), 1e-300), x[:, a].max(), 50) \
        if np.all(x[:, a] > 0) else np.linspace(x[:, a].min(), x[:, a].max(), 50)
    for sp_ in rule.splits:
        ins, c = sp_.get("inputs", [sp_["input"]]), sp_["threshold"]
        if ins == [names[a]]:
            ax.axvline(c, color="k", lw=1, ls="--")
        elif ins == [names[b]]:
            ax.axhline(c, color="k", lw=1, ls=":")
        elif ins == [names[a], names[b]]:  # x_a / x_b = c
            ax.plot(xs, xs / c, color="k", lw=1, ls="-.")
        elif ins == [names[b], names[a]]:  # x_b / x_a = c
            ax.plot(xs, c * xs, color="k", lw=1, ls="-.")
    ax.set_xlim(x[:, a].min(), x[:, a].max())
    ax.set_ylim(x[:, b].min(), x[:, b].max())
    for axis, j in (("x", a), ("y", b)):
        if np.all(x[:, j] > 0) and x[:, j].max() / x[:, j].min() > 20:
            getattr(ax, f"set_{axis}scale")("log")
    unit = units or {}
    ax.set_xlabel(f"{names[a]} ({unit.get(names[a], '')})")
    ax.set_ylabel(f"{names[b]} ({unit.get(names[b], '')})")
    ax.set_title(f"Feasibility: held-out accuracy {rule.accuracy:.0%} "
                 f"(majority guess {rule.baseline_accuracy:.0%})", fontsize=10)
    ax.legend(fontsize=8, markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
