"""Evaluating the model on a whole sample matrix, in chunks."""

from __future__ import annotations

import sys

import numpy as np


def _evaluate(model, resolved: dict, x: np.ndarray, *, progress: bool,
              desc: str) -> dict[str, np.ndarray]:
    """Evaluate the model on the whole matrix, ``chunk_size`` rows per vectorised call."""
    from tqdm import tqdm

    names = [i["name"] for i in resolved["inputs"]]
    fixed = {k: np.float64(v) for k, v in resolved["fixed"].items()}
    rows = x.shape[0]
    step = resolved["chunk_size"]
    parts: dict[str, list[np.ndarray]] = {o: [] for o in model.output_names}
    with tqdm(total=rows, disable=not progress, file=sys.stderr, desc=desc,
              unit="eval") as bar:
        for start in range(0, rows, step):
            chunk = x[start:start + step]
            params = dict(fixed)
            params.update({name: chunk[:, j] for j, name in enumerate(names)})
            out = model.evaluate(params)
            for o in model.output_names:
                parts[o].append(np.broadcast_to(out[o], (chunk.shape[0],)))
            bar.update(chunk.shape[0])
    return {o: np.concatenate(v) for o, v in parts.items()}
