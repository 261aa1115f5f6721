"""Readers of DICOM attribute values that tolerate absence: text, numbers, times of day, functional groups.

Each returns None (or an empty tuple) for an absent, empty or unreadable value
instead of raising, because anonymised and vendor data leave out or garble many
attributes and one bad value must not lose the whole series.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable

from pydicom.dataset import Dataset

logger = logging.getLogger(__name__)


def as_text(value: object) -> str | None:
    """A stripped string, None when absent or empty."""
    text = str(value).strip() if value is not None else ""
    return text or None


def as_upper(value: object) -> str | None:
    """An upper-case stripped string (CS values compared without regard to case), None when absent or empty."""
    text = as_text(value)
    return text.upper() if text else None


def as_strings(value: object) -> tuple[str, ...]:
    """The values of a (possibly multi-valued) string attribute, empty ones dropped."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) or not isinstance(value, Iterable) else value
    return tuple(t for t in (as_text(v) for v in items) if t)


def as_upper_strings(value: object) -> tuple[str, ...]:
    """`as_strings` in upper case."""
    return tuple(v.upper() for v in as_strings(value))


def union(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """The values of several tuples, each once, in order of first appearance."""
    return tuple(dict.fromkeys(v for group in groups for v in group))


def as_float(value: object) -> float | None:
    """A number from a DS/FD/IS value (the first of a multi-value), None when absent, unreadable or not finite."""
    if value is None or isinstance(value, str) and not value.strip():
        return None
    if not isinstance(value, str | int | float) and isinstance(value, Iterable):
        items = list(value)
        return as_float(items[0]) if items else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        logger.debug("unreadable number %r ignored", value)
        return None
    return number if math.isfinite(number) else None


def first_number(*values: object) -> float | None:
    """The first of `values` that reads as a number."""
    return next((n for n in (as_float(v) for v in values) if n is not None), None)


def as_int(value: object) -> int | None:
    """An integer from an IS/US value, None when absent or unreadable."""
    number = as_float(value)
    return None if number is None else int(number)


def as_floats(value: object, count: int | None) -> tuple[float, ...] | None:
    """All numbers of a multi-valued attribute; None when absent, unreadable or not `count` values long."""
    if value is None or isinstance(value, str):
        return None
    try:
        numbers = tuple(float(v) for v in (value if isinstance(value, Iterable) else [value]))
    except (TypeError, ValueError):
        return None
    if count is not None and len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        return None
    return numbers


def tm_seconds(value: object) -> float | None:
    """Seconds after midnight of a TM value (HHMMSS.FFFFFF, also the old HH:MM:SS form), None if unreadable."""
    text = re.split(r"[+-]", str(value or "").strip().replace(":", ""))[0]
    match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?", text)
    if not match:
        return None
    hours, minutes, seconds, fraction = match.groups()
    return int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0) + float(fraction or 0)


def functional_value(item: Dataset | None, shared: Dataset | None, sequence: str, attribute: str) -> object:
    """An attribute of a functional group macro (PS3.3 C.7.6.16), from the frame's own groups, else the shared ones.

    Args:
        item: the frame's item of the Per-frame Functional Groups Sequence, or None.
        shared: the item of the Shared Functional Groups Sequence, or None.
        sequence: keyword of the macro's sequence, e.g. "PlanePositionSequence".
        attribute: keyword inside it, e.g. "ImagePositionPatient".
    """
    for groups in (item, shared):
        macro = groups.get(sequence) if groups is not None else None
        if macro:
            value = macro[0].get(attribute)
            if value not in (None, ""):
                return value
    return None


def earliest_moment(datasets: list[Dataset]) -> tuple[str | None, float | None]:
    """Date and time of day of the earliest SeriesTime, AcquisitionTime or AcquisitionDateTime of some instances.

    A time without its own date takes the series', acquisition's, study's or content date, in that order.
    """
    first = datasets[0]
    fallback_date = next(
        (as_text(first.get(k)) for k in ("SeriesDate", "AcquisitionDate", "StudyDate", "ContentDate") if first.get(k)),
        None,
    )
    moments: list[tuple[str | None, float]] = []
    for ds in datasets:
        for date_key, time_key in (("SeriesDate", "SeriesTime"), ("AcquisitionDate", "AcquisitionTime")):
            seconds = tm_seconds(ds.get(time_key))
            if seconds is not None:
                moments.append((as_text(ds.get(date_key)) or fallback_date, seconds))
        stamp = as_text(ds.get("AcquisitionDateTime"))
        if stamp and len(stamp) > 8 and tm_seconds(stamp[8:]) is not None:
            moments.append((stamp[:8], tm_seconds(stamp[8:])))
    if not moments:
        return fallback_date, None
    return min(moments, key=lambda m: (m[0] or "", m[1]))


def normalise_text(value: str | None) -> str:
    """Upper-case text with underscores as spaces and runs of spaces collapsed, for the keyword rules."""
    return re.sub(r"\s+", " ", (value or "").upper().replace("_", " ")).strip()


NAME_WORDS = frozenset(
    "T1 T2 T1W T2W T1WI T2WI PD PDW FLAIR SE TSE FSE FRFSE IR GRE FFE TFE FS 3D 2D AX AXI AXL SAG COR "  # noqa: SIM905 (a word list, not a column)
    "TRA S C CE GD POST PRE MPR MPRAGE SPACE CUBE VISTA TIRM SPGR FSPGR BRAVO VOL ISO WEIGHTED STAR".split()
)
"""Words technologists glue together in series names ("SAG3DT1", "T2TSE", "sT2W", "3DT1weighted")."""

CORE_NAME_WORDS = frozenset({"T1", "T2", "T1W", "T2W", "T1WI", "T2WI", "PDW", "FLAIR", "SPGR", "FSPGR", "MPRAGE"})
"""A glued token is split only when one of its parts names a weighting or sequence: "TRACE" is not "TRA CE"."""


_LONGEST_NAME_WORD = max(map(len, NAME_WORDS))


def _split_token(token: str) -> list[str] | None:
    """`token` as a run of NAME_WORDS (fewest parts), or None when it is not one."""
    best: list[list[str] | None] = [[]] + [None] * len(token)
    for end in range(1, len(token) + 1):
        for start in range(max(0, end - _LONGEST_NAME_WORD), end):
            word = token[start:end]
            if best[start] is not None and word in NAME_WORDS:
                candidate = [*best[start], word]
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    return best[-1]


def name_text(value: str | None) -> str:
    """`normalise_text`, with glued words of a series name set apart ("SAG3DT1" -> "SAG 3D T1") so that the
    keyword rules read a name the way a technologist writes it."""
    words = []
    for token in re.split(r"([^A-Z0-9]+)", normalise_text(value)):
        parts = _split_token(token) if token.isalnum() and token not in NAME_WORDS else None
        words.append(" ".join(parts) if parts and len(parts) > 1 and CORE_NAME_WORDS.intersection(parts) else token)
    return "".join(words)
