"""Scoring series identification on a labelled corpus of real-world series names and tags.

The corpus (`tests/data/contrast_corpus/series.csv`, one series a row, each with
its public source) says what each series is: t1, t1ce, t2, flair or other. A
series is scored the way the node treats it alone: dropped by series selection's
keyword rules (localizer, diffusion, reformat...) means "other"; otherwise contrast
identification's label (OTHER, or no tag evidence, means "other"). Rows are split
by source and scanner maker, so that the validation part holds sites' naming
habits the rules were never tuned on.

    python -m operators.identification.identification_corpus   # per-class accuracy and confusion table of both parts,
                                                # and the tuning part's misses (never the validation part's)
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from operators.identification.contrast_identification import Contrast, identify_study
from operators.identification.contrast_rules import DEFAULT_RULES, ContrastRules
from operators.selection.series_info import SeriesInfo
from operators.selection.series_selection import SelectionRules, other_kind_reason

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "contrast_corpus" / "series.csv"
LABELS = ("t1", "t1ce", "t2", "flair", "other")
VALIDATION_SHARE = 0.3
"""About this share of the groups (source and scanner maker, not rows) is held out as the validation part."""


@dataclass(frozen=True)
class CorpusRow:
    """One labelled series: its tags as a `SeriesInfo`, its label, where it comes from."""

    series: SeriesInfo
    label: str
    source: str
    evidence: str

    @property
    def group(self) -> str:
        """The naming habit a row stands for: its source repository (or site) and scanner maker."""
        maker = (self.series.manufacturer or "").upper().split()
        return f"{source_repository(self.source)}|{maker[0] if maker else ''}"

    @property
    def part(self) -> str:
        """ "validation" or "tuning", fixed by the row's group, so that validation holds whole sites' naming."""
        digest = hashlib.sha256(self.group.encode()).digest()
        return "validation" if digest[0] / 256 < VALIDATION_SHARE else "tuning"


def source_repository(source: str) -> str:
    """`github:owner/repo@commit:path` -> owner/repo; a URL -> its host and first path part."""
    if source.startswith("github:"):
        return source[len("github:") :].split("@", 1)[0].split(":", 1)[0]
    rest = source.split("://", 1)[-1]
    return "/".join(rest.split("/")[:2])


def _number(value: str) -> float | None:
    return float(value) if value.strip() else None


def _multi(value: str) -> tuple[str, ...]:
    return tuple(v.strip().upper() for v in value.split("\\") if v.strip())


def read_corpus(path: Path = CORPUS) -> list[CorpusRow]:
    """Every row of the corpus; a bad label or number raises naming the line."""
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            if row["label"] not in LABELS:
                raise ValueError(f"{path}:{line}: label {row['label']!r} is not one of {LABELS}")
            try:
                series = SeriesInfo(
                    series_instance_uid=f"corpus.{line}",
                    modality="MR",
                    series_description=row["series_description"] or None,
                    protocol_name=row["protocol_name"] or None,
                    sequence_name=row["sequence_name"] or None,
                    scanning_sequence=_multi(row["scanning_sequence"]),
                    sequence_variant=_multi(row["sequence_variant"]),
                    repetition_time=_number(row["repetition_time_ms"]),
                    echo_time=_number(row["echo_time_ms"]),
                    inversion_time=_number(row["inversion_time_ms"]),
                    flip_angle=_number(row["flip_angle"]),
                    contrast_bolus_agent=row["contrast_agent"] or None,
                    manufacturer=row["manufacturer"] or None,
                    mr_acquisition_type=row["mr_acquisition_type"] or None,
                    image_type=_multi(row["image_type"]),
                )
            except ValueError as error:
                raise ValueError(f"{path}:{line}: {error}") from error
            rows.append(CorpusRow(series, row["label"], row["source"], row["evidence"]))
    return rows


def classify(
    series: SeriesInfo, rules: ContrastRules = DEFAULT_RULES, selection: SelectionRules = SelectionRules()
) -> str:
    """The label the node gives one series seen alone."""
    if other_kind_reason(series, selection):
        return "other"
    (ident,) = identify_study([series], rules)
    return "other" if ident.contrast is Contrast.OTHER else ident.contrast.value


@dataclass(frozen=True)
class Score:
    """Accuracy of one part of the corpus: overall, per class, the confusion counts and the misses."""

    total: int
    correct: int
    per_class: dict[str, tuple[int, int]]
    confusion: Counter
    misses: list[tuple[CorpusRow, str]]

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def score(rows: Iterable[CorpusRow], rules: ContrastRules = DEFAULT_RULES) -> Score:
    rows = list(rows)
    confusion: Counter = Counter()
    misses = []
    for row in rows:
        found = classify(row.series, rules)
        confusion[(row.label, found)] += 1
        if found != row.label:
            misses.append((row, found))
    per_class = {
        label: (confusion[(label, label)], sum(n for (truth, _), n in confusion.items() if truth == label))
        for label in LABELS
    }
    return Score(len(rows), len(rows) - len(misses), per_class, confusion, misses)


def markdown(name: str, result: Score) -> str:
    """The part's accuracy per class and its confusion table (rows: truth, columns: the node's label)."""
    lines = [
        f"**{name}**: {result.correct} of {result.total} series right ({100 * result.accuracy:.1f} %)",
        "",
        "| truth \\ node | " + " | ".join(LABELS) + " | accuracy |",
        "|---" * (len(LABELS) + 2) + "|",
    ]
    for truth in LABELS:
        right, count = result.per_class[truth]
        cells = " | ".join(str(result.confusion[(truth, found)]) for found in LABELS)
        share = f"{100 * right / count:.1f} %" if count else "-"
        lines.append(f"| {truth} | {cells} | {share} ({count}) |")
    return "\n".join(lines)


def main() -> None:
    rows = read_corpus()
    sources = Counter(source_repository(r.source) for r in rows)
    print(f"{len(rows)} series from {len(sources)} sources ({CORPUS.name})\n")
    for part in ("tuning", "validation"):
        chosen = [r for r in rows if r.part == part]
        result = score(chosen)
        print(markdown(f"{part} part ({len({r.group for r in chosen})} source/maker groups)", result), "\n")
        if part == "validation":
            continue  # its misses stay unseen: the rules must not be tuned on them
        for row, found in result.misses:
            s = row.series
            print(
                f"  miss: {row.label} -> {found}: {s.series_description!r} / {s.protocol_name!r} / "
                f"{s.sequence_name!r} TR {s.repetition_time} TE {s.echo_time} TI {s.inversion_time} "
                f"{'/'.join(s.scanning_sequence)} [{row.source}]"
            )
        print()


if __name__ == "__main__":
    main()
