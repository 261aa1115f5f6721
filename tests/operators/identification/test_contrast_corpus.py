"""Contrast identification on real-world series names and tags (tests/data/contrast_corpus, with provenance).

The corpus is split by source and scanner maker: the rules were tuned on the
tuning part only; the validation part holds naming habits they never saw
(`python -m operators.identification.identification_corpus` prints both tables and the tuning
part's misses).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from operators.identification.identification_corpus import LABELS, markdown, read_corpus, score

MIN_ACCURACY = 0.98


@pytest.fixture(scope="module")
def corpus():
    return read_corpus()


def test_the_corpus_is_large_varied_and_traceable(corpus):
    labels = Counter(row.label for row in corpus)
    assert len(corpus) >= 400 and all(labels[label] >= 40 for label in LABELS), labels
    assert labels["other"] >= 0.75 * sum(labels[c] for c in ("t1", "t1ce", "t2", "flair")), labels
    assert len({row.group for row in corpus}) >= 40
    assert all(re.match(r"github:[\w.-]+/[\w.-]+@[0-9a-f]{40}:\S", row.source) for row in corpus)
    for part in ("tuning", "validation"):
        present = Counter(row.label for row in corpus if row.part == part)
        assert all(present[label] >= 5 for label in LABELS), (part, present)


@pytest.mark.parametrize("part", ["tuning", "validation"])
def test_series_are_identified_at_98_percent_on_each_part(corpus, part):
    result = score(row for row in corpus if row.part == part)
    table = markdown(part, result)
    print("\n" + table)
    assert result.accuracy >= MIN_ACCURACY, table
