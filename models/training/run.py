"""A training run folder: its recipe, its subject split, its cache of preprocessed cases, one folder per stage.

RUN/config.yaml    the ModelConfig every stage reads (written on the first call)
RUN/split.json     train / validation / test subjects
RUN/cache/         preprocessed slices per case
RUN/<stage>/       checkpoint.pt (resume), weights.pt (final), train.csv, validation.csv, curves.png
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from models.config import CPU_RECIPE, ModelConfig, load_config, save_config
from models.data.layouts import find_cases
from models.data.slices import SliceBank, cache_case
from models.data.splits import load_or_make_split

logger = logging.getLogger(__name__)


@dataclass
class Run:
    root: Path
    config: ModelConfig
    split: dict
    cache: dict[str, Path]

    def stage_dir(self, stage: str) -> Path:
        path = self.root / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    def bank(self, part: str) -> SliceBank:
        return SliceBank([self.cache[c] for c in self.split[part]])


def _cache_all(cases: list, config: ModelConfig, folder: Path, workers: int) -> list[Path]:
    """Preprocess every case once (seconds each: 240 cases are minutes), in `workers` spawned processes."""
    todo = [c for c in cases if not (folder / f"{c.case_id}.npz").is_file()]
    if workers > 1 and len(todo) > 1:
        # Spawned, not forked: a fork of a process whose torch/OpenMP threads already ran can deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            list(pool.map(cache_case, todo, [config.data] * len(todo), [folder] * len(todo)))
    return [cache_case(c, config.data, folder) for c in cases]


def open_run(root: Path, data: Path, layout: str, config_path: Path | None = None, workers: int = 1) -> Run:
    """Open (or start) a run; a run's recipe is fixed once written, so a different --config is refused."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    saved = root / "config.yaml"
    if saved.is_file():
        config = load_config(saved)
        if config_path is not None and load_config(config_path) != config:
            raise ValueError(f"{root} was started with another recipe ({saved}); use a new --out or drop --config")
    else:
        config = load_config(config_path if config_path is not None else CPU_RECIPE)
        save_config(config, saved)
    cases = find_cases(data, layout)
    known = {c.case_id: c for c in cases}
    t = config.training
    split = load_or_make_split(root / "split.json", list(known), t.validation_fraction, t.test_fraction, t.seed)
    ids = split["train"] + split["validation"] + split["test"]
    cache = dict(zip(ids, _cache_all([known[c] for c in ids], config, root / "cache", workers)))
    logger.info(
        "run %s: %d train, %d validation, %d test subjects",
        root,
        len(split["train"]),
        len(split["validation"]),
        len(split["test"]),
    )
    return Run(root, config, split, cache)
