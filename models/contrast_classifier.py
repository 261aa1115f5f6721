"""An image-based contrast classifier (T1, T1ce, T2, FLAIR, or none of them) for series whose tags say nothing.

Anonymizers strip SeriesDescription, ProtocolName and sequence tags; the
node then has only pixels. A small CNN looks at a volume's central axial
slices on the model grid (the same preprocessing as synthesis, one contrast
at a time) and averages its per-slice probabilities. Trained on simulated
subjects, whole head and skull-stripped, both field strengths and every
sequence variant the simulator has; its held-out accuracy is written next to
its weights (`metrics.json`). A fifth class, "other", learns the series a
stripped study also carries that look like one of the four (a DWI at
b = 1000 has FLAIR's dark CSF, an ADC map T2's bright CSF), so that they are
not fed to the model, and so that the last unsure series of a study can be
called by exclusion (`study_calls`).

    python -m models.contrast_classifier --data DATA --split RUN/split.json --out models/contrast-classifier
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from models.classifier_input import CLASSES, CONTRASTS, OTHER, other_volumes, volume_slices
from models.classifier_studies import load_examples
from models.config import DataConfig
from models.data.layouts import find_brats_cases
from product.process import ensure_stack_size

logger = logging.getLogger(__name__)

OTHER_SERIES = ("dwi b1000", "adc")
"""What the "other" class is trained on, made from each subject's T2 by `simulation.diffusion`."""
WEIGHTS = "classifier.pt"
METRICS = "metrics.json"


class ContrastClassifier(nn.Module):
    """Four strided conv blocks, global average pooling, a linear layer: about 70 k parameters."""

    def __init__(self, classes: int = len(CLASSES), width: int = 16):
        super().__init__()
        layers, channels = [], 1
        for out in (width, 2 * width, 4 * width, 4 * width):
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.GroupNorm(4, out), nn.SiLU()]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 64, 64) slices in [-1, 1] -> (B, classes) logits."""
        return self.head(self.features(x).mean(dim=(2, 3)))


class ContrastClassifierModel:
    """The trained classifier: `probabilities(volume, affine)` -> {class: p}."""

    def __init__(self, network: ContrastClassifier, data: DataConfig, classes: tuple[str, ...] = CLASSES):
        self.network = network.eval()
        self.data = data
        self.classes = classes

    @classmethod
    def load(cls, folder: Path) -> ContrastClassifierModel:
        """Weights saved before the "other" class have the four contrasts only."""
        state = torch.load(Path(folder) / WEIGHTS, map_location="cpu", weights_only=True)
        classes = tuple(state.get("classes", CONTRASTS))
        network = ContrastClassifier(len(classes))
        network.load_state_dict({k: v.float() for k, v in state["network"].items()})
        return cls(network, DataConfig(**state["data"]), classes)

    @torch.no_grad()
    def probabilities(self, volume: np.ndarray, affine: np.ndarray) -> dict[str, float]:
        slices = torch.from_numpy(volume_slices(volume, affine, self.data))
        p = torch.softmax(self.network(slices), dim=1).mean(dim=0)
        return {c: float(v) for c, v in zip(self.classes, p)}


MIN_PROBABILITY = 0.7
"""A class is taken alone only at this probability: "other" covers only the series it was trained on."""


@dataclass(frozen=True)
class ImageCall:
    """What the pixels say of one series of a study: the contrast (None when unsure), its probability, and why."""

    contrast: str | None
    probability: float
    how: str


def study_calls(
    probabilities: list[dict[str, float]],
    min_probability: float = MIN_PROBABILITY,
    taken: frozenset[str] | set[str] = frozenset(),
) -> list[ImageCall]:
    """The node's call for each series of one study, from each series' class probabilities.

    Pixels tell a T1-weighted image well but pre- from post-contrast poorly in absolute terms, while between two
    T1-weighted series of one study the classifier ranks the post-contrast one as the more enhanced. So every
    series whose T1 + T1ce probability reaches `min_probability` is T1-weighted; when a study has several, the one
    with the largest log-odds of T1ce over T1 is the T1ce and the others T1; a lone one goes by the larger of the
    two. Any other series takes its likeliest class at `min_probability` ("other": none of the four), or stays
    unsure. Last, by exclusion: when exactly one of the four contrasts is neither in `taken` (named by tags) nor
    called, and exactly one series is unsure, that series is called that contrast if it is its likeliest of the four
    and likelier than "other" (only a classifier with an "other" class does this: without one, a DWI would be
    taken for the missing FLAIR).
    """
    calls: list[ImageCall | None] = [None] * len(probabilities)
    t1_family, unsure = [], []
    for index, p in enumerate(probabilities):
        best = max(p, key=p.get)
        if p["t1"] + p["t1ce"] >= min_probability:
            t1_family.append(index)
        elif p[best] >= min_probability:
            calls[index] = (
                ImageCall(None, p[best], "none of the four contrasts")
                if best == OTHER
                else (ImageCall(best, p[best], ""))
            )
        else:
            calls[index] = ImageCall(None, p[best], f"needs {min_probability:g}")
            unsure.append(index)
    enhanced = max(t1_family, key=lambda i: enhancement(probabilities[i])) if len(t1_family) > 1 else None
    for index in t1_family:
        p = probabilities[index]
        if enhanced is not None:
            most = index == enhanced
            how = (
                f"T1-weighted by its pixels; the {'most' if most else 'less'} enhanced of {len(t1_family)} such "
                f"series (log-odds T1ce:T1 {enhancement(p):+.2f})"
            )
            calls[index] = ImageCall("t1ce" if most else "t1", p["t1"] + p["t1ce"], how)
        else:
            how = "T1-weighted by its pixels; the only such series, pre or post contrast by the likelier"
            contrast = "t1" if p["t1"] >= p["t1ce"] else "t1ce"
            calls[index] = ImageCall(contrast, max(p["t1"], p["t1ce"]), how)
    called = set(taken) | {call.contrast for call in calls if call is not None and call.contrast is not None}
    left = [c for c in CONTRASTS if c not in called]
    if len(left) == 1 and len(unsure) == 1:
        index, (contrast,) = unsure[0], left
        p = probabilities[index]
        if OTHER in p and max(CONTRASTS, key=p.get) == contrast and p[contrast] > p[OTHER]:
            how = (
                f"by exclusion: the study's other three contrasts are identified, and {contrast} is this series' "
                f"likeliest contrast (p {p[contrast]:.2f}, other {p[OTHER]:.2f}), under the {min_probability:g} "
                "a call alone needs"
            )
            calls[index] = ImageCall(contrast, p[contrast], how)
    return [call for call in calls if call is not None]


def enhancement(probabilities: dict[str, float]) -> float:
    """How much more post- than pre-contrast the classifier finds a T1-weighted series: log p(T1ce) - log p(T1)."""
    return math.log(max(probabilities["t1ce"], 1e-9)) - math.log(max(probabilities["t1"], 1e-9))


def _case_examples(case, data: DataConfig) -> list[tuple[np.ndarray, int]]:
    import nibabel as nib

    mask = np.asarray(nib.load(str(case.brain_mask)).dataobj) > 0 if case.brain_mask else None
    volumes = []
    for label, contrast in enumerate(CONTRASTS):
        image = nib.load(str(case.images[contrast]))
        volumes.append((np.asarray(image.dataobj, dtype=np.float32), image.affine, label))
    if mask is not None and case.labels is not None:
        t2, affine, _ = volumes[CONTRASTS.index("t2")]
        labels = np.asarray(nib.load(str(case.labels)).dataobj)
        for volume in other_volumes(t2, mask, labels).values():
            volumes.append((volume, affine, CLASSES.index(OTHER)))
    examples = []
    for volume, affine, label in volumes:
        examples.append((volume_slices(volume, affine, data), label))
        if mask is not None:  # the same subject skull-stripped, as BraTS-style input arrives
            examples.append((volume_slices(np.where(mask, volume, 0.0), affine, data), label))
    return examples


def build_examples(cases, data: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slices, labels and the index of the volume each slice comes from."""
    slices, labels, volumes = [], [], []
    for case in cases:
        for x, label in _case_examples(case, data):
            slices.append(x)
            labels.append(np.full(len(x), label))
            volumes.append(np.full(len(x), len(volumes)))
    return np.concatenate(slices), np.concatenate(labels), np.concatenate(volumes)


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flips and a random gamma on [0, 1]: vendors' intensity curves differ."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    gamma = torch.exp(torch.randn(x.shape[0], 1, 1, 1, generator=generator) * 0.25)
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0) ** gamma * 2.0 - 1.0


def volume_accuracy(network: ContrastClassifier, x: np.ndarray, y: np.ndarray, volumes: np.ndarray) -> dict:
    """Accuracy per volume (mean probability over its slices), overall and per class, and the confusion."""
    confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    probabilities = _volume_probabilities(network, {"slices": x, "volumes": volumes})
    for v, p in zip(np.unique(volumes), probabilities):
        confusion[y[volumes == v][0], CLASSES.index(max(p, key=p.get))] += 1
    correct = np.trace(confusion)
    return {
        "volumes": int(confusion.sum()),
        "accuracy": float(correct / confusion.sum()),
        "per_class": {
            c: float(confusion[i, i] / confusion[i].sum()) for i, c in enumerate(CLASSES) if confusion[i].sum()
        },
        "confusion_rows_truth_columns_predicted": confusion.tolist(),
        "classes": list(CLASSES),
    }


def accuracy_per_geometry(network: ContrastClassifier, studies: dict[str, np.ndarray]) -> dict:
    """`volume_accuracy` over examples from simulated DICOM studies (`models.classifier_studies`), overall and per
    acquisition geometry ("3D sagittal"), vendor, and whole head or skull-stripped, each with its volume count."""
    x, y, v = studies["slices"].astype(np.float32), studies["labels"], studies["volumes"]
    result = volume_accuracy(network, x, y, v)
    for key, values in (("per_geometry", "geometries"), ("per_vendor", "vendors"), ("per_head", "heads")):
        result[key] = {}
        for kind in sorted(set(studies[values].tolist())):
            rows = np.isin(v, np.flatnonzero(studies[values] == kind))
            part = volume_accuracy(network, x[rows], y[rows], v[rows])
            result[key][kind] = {"volumes": part["volumes"], "accuracy": round(part["accuracy"], 3)}
    return result


def _volume_probabilities(network: ContrastClassifier, examples: dict[str, np.ndarray]) -> list[dict[str, float]]:
    """Each volume's mean class probabilities, in volume order."""
    x, v = examples["slices"].astype(np.float32), examples["volumes"]
    network.eval()
    with torch.no_grad():
        p = torch.softmax(network(torch.from_numpy(x)), dim=1).numpy()
    classes = CLASSES[: p.shape[1]]
    return [dict(zip(classes, p[v == m].mean(axis=0).tolist())) for m in np.unique(v)]


def study_decisions(
    network: ContrastClassifier, studies: dict[str, np.ndarray], others: dict[str, np.ndarray] | None = None
) -> dict:
    """What the node decides for each series of each held-out study (`study_calls` over the study's series, as
    `operators.identification.contrast_from_image` calls them when no tag says anything): accuracy per class, per
    acquisition geometry, per class and geometry, per vendor and per head (whole or skull-stripped), with the
    counts. An unsure call counts as wrong.

    With `others` ("other" series of held-out subjects, `models.classifier_studies --others`), each study is called
    once more with its FLAIR replaced by one of them (of the same head kind): the study then holds no FLAIR, and
    right is T1, T1ce, T2 called as before and the other series called no contrast (not the FLAIR by exclusion).
    """
    labels = [int(studies["labels"][studies["volumes"] == m][0]) for m in np.unique(studies["volumes"])]
    probabilities = _volume_probabilities(network, studies)
    other_p = _volume_probabilities(network, others) if others is not None else []
    other_heads = [str(h) for h in others["heads"]] if others is not None else []
    right: dict[str, list[bool]] = {}
    used = 0
    for start in range(0, len(probabilities), len(CONTRASTS)):  # `classifier_studies.build`: four series a study
        members = list(range(start, start + len(CONTRASTS)))
        for member, call in zip(members, study_calls([probabilities[m] for m in members])):
            truth = CONTRASTS[labels[member]]
            geometry = str(studies["geometries"][member])
            vendor, head = str(studies["vendors"][member]), str(studies["heads"][member])
            for key in (f"class {truth}", f"geometry {geometry}", f"{truth} {geometry}", "all", vendor, head):
                right.setdefault(key, []).append(call.contrast == truth)
        if not other_p:
            continue
        head = str(studies["heads"][members[0]])
        candidates = [k for k, h in enumerate(other_heads) if h == head]
        other = candidates[used % len(candidates)]
        used += 1
        flair = next(m for m in members if CONTRASTS[labels[m]] == "flair")
        series = [probabilities[m] for m in members if m != flair] + [other_p[other]]
        truths = [CONTRASTS[labels[m]] for m in members if m != flair] + [None]
        for truth, call in zip(truths, study_calls(series)):
            name = "other" if truth is None else truth
            for key in ("FLAIR replaced by an other series", f"FLAIR replaced: {name}"):
                right.setdefault(key, []).append(call.contrast == truth)
            if truth is None:
                right.setdefault(f"other {others['geometries'][other]}", []).append(call.contrast is None)
    return {key: {"series": len(r), "accuracy": round(float(np.mean(r)), 3)} for key, r in sorted(right.items())}


def _with_studies(x, y, v, studies: dict[str, np.ndarray] | None):
    if studies is None:
        return x, y, v
    offset = int(v.max()) + 1 if len(v) else 0
    return (
        np.concatenate([x, studies["slices"].astype(np.float32)]),
        np.concatenate([y, studies["labels"]]),
        np.concatenate([v, studies["volumes"] + offset]),
    )


def train(
    data_dir: Path,
    split: dict,
    out: Path,
    steps: int = 3000,
    seed: int = 0,
    studies_train: list[Path] | None = None,
    studies_test: list[Path] | None = None,
    others_test: list[Path] | None = None,
) -> dict:
    data = DataConfig()
    cases = {c.case_id: c for c in find_brats_cases(data_dir)}
    start = time.perf_counter()
    x, y, v = build_examples([cases[c] for c in split["train"]], data)
    x, y, _ = _with_studies(x, y, v, load_examples(studies_train) if studies_train else None)
    tx, ty, tv = build_examples([cases[c] for c in split["test"]], data)
    logger.info("%d training slices, %d test slices (%.0f s)", len(x), len(tx), time.perf_counter() - start)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    network = ContrastClassifier()
    optimizer = torch.optim.Adam(network.parameters(), lr=2e-3)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    for step in range(steps):
        index = torch.randint(0, len(xs), (64,), generator=generator)
        loss = functional.cross_entropy(network(_augment(xs[index], generator)), ys[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (step + 1) % 100 == 0:
            logger.info("step %d: cross-entropy %.4f", step + 1, float(loss))
    metrics = volume_accuracy(network, tx, ty, tv)
    if studies_test:
        metrics["simulated_dicom_studies"] = studies_metrics(network, studies_test, others_test)
    metrics.update(
        test_subjects=split["test"],
        train_subjects=len(split["train"]),
        steps=steps,
        minutes=round((time.perf_counter() - start) / 60, 1),
    )
    out.mkdir(parents=True, exist_ok=True)
    state = {
        "network": {k: v.half() for k, v in network.state_dict().items()},
        "data": vars(data),
        "classes": list(CLASSES),
    }
    torch.save(state, out / WEIGHTS)
    (out / METRICS).write_text(json.dumps(metrics, indent=1))
    return metrics


def studies_metrics(network: ContrastClassifier, paths: list[Path], others: list[Path] | None = None) -> dict:
    """Held-out simulated DICOM studies: each volume's own argmax (`accuracy_per_geometry`) and the node's call
    for each series, study by study (`study_decisions`), also with each study's FLAIR replaced by an "other"
    series of `others` (`models.classifier_studies --others`)."""
    studies = load_examples(paths)
    metrics = accuracy_per_geometry(network, studies)
    other_examples = load_examples(others) if others else None
    metrics["node_decisions"] = study_decisions(network, studies, other_examples)
    if other_examples is not None:
        metrics["other_series"] = accuracy_per_geometry(network, other_examples)
    metrics["files"] = [path.name for path in [*paths, *(others or [])]]
    return metrics


def evaluate_studies(folder: Path, paths: list[Path], others: list[Path] | None = None) -> dict:
    """Re-measure a trained classifier on held-out studies; `metrics.json` keeps its other entries."""
    model = ContrastClassifierModel.load(folder)
    metrics = json.loads((folder / METRICS).read_text())
    previous = metrics.get("simulated_dicom_studies", {})
    metrics["simulated_dicom_studies"] = studies_metrics(model.network, paths, others)
    for key in ("subjects",):
        if key in previous:
            metrics["simulated_dicom_studies"][key] = previous[key]
    (folder / METRICS).write_text(json.dumps(metrics, indent=1))
    return metrics


def main(argv: list[str] | None = None) -> int:
    ensure_stack_size()
    parser = argparse.ArgumentParser(prog="python -m models.contrast_classifier", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="BraTS-layout folder (training)")
    parser.add_argument("--split", type=Path, help="split.json (train and test subjects; training)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--studies-train", type=Path, nargs="+", help="examples of simulated DICOM studies to train on")
    parser.add_argument("--studies-test", type=Path, nargs="+", help="held-out examples of simulated DICOM studies")
    parser.add_argument(
        "--others-test", type=Path, nargs="+", help="held-out other series (classifier_studies --others)"
    )
    parser.add_argument(
        "--evaluate-only", action="store_true", help="re-measure the classifier in --out on --studies-test, no training"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.evaluate_only:
        if not args.studies_test:
            parser.error("--evaluate-only needs --studies-test")
        metrics = evaluate_studies(args.out, args.studies_test, args.others_test)["simulated_dicom_studies"]
        print(json.dumps(metrics["node_decisions"], indent=1))
        return 0
    if args.data is None or args.split is None:
        parser.error("training needs --data and --split")
    split = json.loads(args.split.read_text())
    metrics = train(
        args.data,
        split,
        args.out,
        args.steps,
        studies_train=args.studies_train,
        studies_test=args.studies_test,
        others_test=args.others_test,
    )
    print(json.dumps({k: metrics[k] for k in ("accuracy", "per_class", "volumes")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
