"""Train / validation / test splits by subject, written to a file: never by slice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def make_split(case_ids: list[str], validation_fraction: float, test_fraction: float, seed: int) -> dict:
    """Shuffle subjects with `seed` and cut; every part gets at least one subject when there are three."""
    ids = sorted(case_ids)
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled = [ids[i] for i in order]
    n = len(ids)
    n_test = max(1, round(n * test_fraction)) if n >= 3 else 0
    n_val = max(1, round(n * validation_fraction)) if n >= 3 else 0
    return {
        "seed": seed,
        "test": sorted(shuffled[:n_test]),
        "validation": sorted(shuffled[n_test : n_test + n_val]),
        "train": sorted(shuffled[n_test + n_val :]),
    }


def load_or_make_split(path: Path, case_ids: list[str], validation_fraction: float, test_fraction: float, seed: int):
    """The split recorded in `path`, made and written first if absent; refuses one that names unknown cases."""
    path = Path(path)
    if path.is_file():
        split = json.loads(path.read_text())
        unknown = sorted(set(split["train"] + split["validation"] + split["test"]) - set(case_ids))
        if unknown:
            raise ValueError(f"{path}: the split names cases not in the data: {unknown[:5]}")
        return split
    split = make_split(case_ids, validation_fraction, test_fraction, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(split, indent=1))
    return split
