"""The rule tables of contrast identification: keyword regexes with weights and TR/TE/TI ranges.

Everything here is data read by the one scorer in `contrast_identification`.
Name patterns are searched in normalised text (upper case, underscores as
spaces, glued words set apart: see `name_text`); in each field the FIRST rule that matches
counts, so specific rules ("T1 FLAIR", "T2*") come before general ones
("FLAIR", "T2"). Weights are in [0, 1]: a strong physics rule (0.9) outweighs
the strongest name (0.85), so physics wins when the two contradict. Times in ms,
ranges half-open [low, high), None for an open end.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import Enum

logger = logging.getLogger(__name__)


class Contrast(Enum):
    """The contrasts the node knows; OTHER is every other weighting (PD, T2*, STIR...) or unknown."""

    T1 = "t1"
    T1CE = "t1ce"
    T2 = "t2"
    FLAIR = "flair"
    OTHER = "other"


@dataclass(frozen=True)
class NameRule:
    """A keyword rule: `pattern` found in a name field is evidence of `contrast` with `weight`."""

    pattern: str
    contrast: Contrast
    weight: float
    label: str

    def __post_init__(self) -> None:
        _check_weight(self.label, self.weight)
        _check_regex(self.label, self.pattern)


@dataclass(frozen=True)
class PhysicsRule:
    """A timing rule: a series whose TR, TE, TI and sequence type all fit is evidence of `contrast`.

    Attributes:
        label: what the rule recognises, as the evidence says it.
        contrast: the contrast it is evidence of.
        weight: its strength in [0, 1].
        tr, te, ti: [low, high) ranges in ms that the value must lie in; None: not looked at.
        ti_missing: the rule applies only when no inversion time is known.
        inversion: inversion-recovery states allowed ("yes", "no", "unknown").
        echo: readout kinds allowed ("SE", "GR", "EP", "unknown").
    """

    label: str
    contrast: Contrast
    weight: float
    tr: tuple[float | None, float | None] | None = None
    te: tuple[float | None, float | None] | None = None
    ti: tuple[float | None, float | None] | None = None
    ti_missing: bool = False
    inversion: frozenset[str] = frozenset({"yes", "no", "unknown"})
    echo: frozenset[str] = frozenset({"SE", "GR", "EP", "unknown"})

    def __post_init__(self) -> None:
        _check_weight(self.label, self.weight)


def _check_weight(label: str, weight: float) -> None:
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"rule {label!r}: weight {weight} is not in [0, 1]")


def _check_regex(label: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f"rule {label!r}: {pattern!r} is not a regex: {err}") from err


T1, T2, FLAIR, OTHER = Contrast.T1, Contrast.T2, Contrast.FLAIR, Contrast.OTHER

_POST_WORDS = (
    r"\bPOST(?!\W?(FOSSA|ERIOR|OP\b|OPERATIVE))|\+\s*(C|GD|GAD|CONTRAST|KM)\b|\bC\s*\+|\bGAD|\bGD\b|\bCE\b"
    r"|\bT1W?\W?(CE?|GD)\b|\bW/\s*C|\bWITH\W+CONTRAST|\bCONTRAST\b|\bENHANC(ED|EMENT|ING)?\b(?!\W*(PRO|DICOM|MR\b))|\bKM\b|\bMDC\b"
    r"|DOTAREM|GADAVIST|GADOVIST|MULTIHANCE|PROHANCE|MAGNEVIST|CLARISCAN|OMNISCAN"
    r"|\b(F?SPGR|BRAVO|MPRAGE|TFE|VIBE|LAVA)\W?(C|GD)\b"
)
_PRE_WORDS = (
    r"\bPRE\W?(CONTRAST|CON|GADO?|GD|C)?\b|\bW\W?O\b(\W*(CONTRAST|CON|GAD|GD))?|\bWITHOUT\b(\W*(CONTRAST|CON|GAD|GD))?"
    r"|\bNON\W?(CONTRAST|CON|ENHANC\w*|GAD|GD)\b|\bNATIVE?\b|\bNC\b|\bUNENHANCED\b"
)

NAME_RULES: tuple[NameRule, ...] = (
    NameRule(r"\bT[12]\W?MAP|\bRELAXOMETRY|\bMAGIC\b|\bSYMRI\b|\bQALAS\b|\bMDME\b", OTHER, 0.85, "quantitative map"),
    NameRule(
        r"T2\s*\*|\bT2\W?STAR|\bSWI|\bSWAN\b|\bHEMO|\bMERGE\b|\bMEDIC\b|SUSCEPT", OTHER, 0.85, "T2*/susceptibility"
    ),
    NameRule(
        r"\bT2\W{0,3}(W\W?)?(GRE|FFE|FE|FGRE|MPGR|FL[23]D|GR|GE|FLASH|ME\W?GRE)\b", OTHER, 0.85, "gradient-echo T2*"
    ),
    NameRule(r"\bSTIR\b", OTHER, 0.85, "STIR"),
    NameRule(r"MP2RAGE|\bINV[12]\b|\bUNI\W?(DEN|IMAGES)?\b", OTHER, 0.85, "MP2RAGE inversion or uniform image"),
    NameRule(
        r"\bPDW?\s*(\+|/|-|&|AND)?\s*T2|\bT2W?\s*(\+|/|-|&|AND)\s*PDW?\b",
        T2,
        0.7,
        "dual-echo PD/T2 (its late echo is T2)",
    ),
    NameRule(r"\bPD\b|\bPDW|\bPD\W?(TSE|FSE|FS)\b|PROTON\W?DENS|\bDP\b", OTHER, 0.8, "proton density"),
    NameRule(r"^(?=.*\bT1(?![0-9]))(?=.*(FLAIR|DARK\W?FLUID))", T1, 0.8, "T1-weighted FLAIR (dark fluid, short TE)"),
    NameRule(r"FLAIR|DARK\W?FLUID|\bFLUID\W?ATT", FLAIR, 0.85, "FLAIR"),
    NameRule(r"\bT2(?![0-9*])", T2, 0.8, "T2"),
    NameRule(r"\bT1(?![0-9])", T1, 0.8, "T1"),
    NameRule(
        r"MP\W?RAGE|\bMPR\b|TFL3D|BRAVO|FSPGR|\bSPGR\b|\bTFE\b|\bVIBE\b|\bLAVA\b|\bTHRIVE\b|\bFLASH\b"
        r"|\bFL[23]D\b|\bFE3D\b|\b3D\W?FFE\b",
        T1,
        0.75,
        "T1-weighted sequence name",
    ),
    NameRule(
        r"\bTSE\b|\bFSE\b|FRFSE|\bPROPELLER\b|\bBLADE\b|\bMULTIVANE\b|\bSPACE\b|\bCUBE\b|\bVISTA\b"
        r"|\bHASTE\b|\bSSFSE\b",
        T2,
        0.5,
        "fast spin echo (mostly T2)",
    ),
    NameRule(_POST_WORDS, T1, 0.5, "post-contrast name (post-contrast imaging is T1)"),
)
"""Rules for SeriesDescription and ProtocolName, most specific first."""

SEQUENCE_RULES: tuple[NameRule, ...] = (
    NameRule(r"^(SWI|SWAN|T2\W?FFE|T2\W?\*|MEDIC|ME[23]D)", OTHER, 0.5, "susceptibility sequence"),
    NameRule(r"^(FLAIR|SPCIR|T2\W?FLAIR|IR\W?FSE)", FLAIR, 0.5, "FLAIR sequence"),
    NameRule(
        r"^(TFL|MPRAGE|FE3D\W?MPRAGE|EFGRE3D|T1\W?TFE|TFE|FSPGR|BRAVO|VIBE|FL[23]D|FLASH|T1)", T1, 0.5, "T1 sequence"
    ),
    NameRule(r"^(SE(2D\d*)?|MEMP)$", T1, 0.3, "spin echo (mostly T1)"),
    NameRule(r"^T2(?!\W?(FFE|\*))", T2, 0.5, "T2 sequence"),
)
"""Rules for SequenceName (or Enhanced MR PulseSequenceName), leading '*' removed.

Fast spin echo names (tse, fse-xl, cube, spc) are left out on purpose: T1, T2,
FLAIR and PD are all acquired with them, so they would only add false conflicts.
"""

DECLARED: dict[str, Contrast] = {"T1": T1, "T2": T2, "FLAIR": FLAIR, "PROTON_DENSITY": OTHER, "T2_STAR": OTHER}
"""Contrast a header declares: Enhanced MR Acquisition Contrast (0008,9209) or Image Type value 3."""

PHYSICS_RULES: tuple[PhysicsRule, ...] = (
    PhysicsRule("CSF-nulling inversion", FLAIR, 0.9, tr=(4500, None), ti=(1500, 3000), inversion=frozenset({"yes"})),
    PhysicsRule(
        "long-TR inversion recovery, long TE",
        FLAIR,
        0.7,
        tr=(6000, None),
        te=(70, None),
        ti_missing=True,
        inversion=frozenset({"yes"}),
    ),
    PhysicsRule("short-TI inversion (STIR)", OTHER, 0.85, ti=(80, 300), inversion=frozenset({"yes"})),
    PhysicsRule(
        "MPRAGE-like prepared gradient echo",
        T1,
        0.85,
        tr=(1500, 2800),
        te=(None, 10),
        ti=(600, 1300),
        inversion=frozenset({"yes"}),
        echo=frozenset({"GR", "unknown"}),
    ),
    PhysicsRule(
        "T1-weighted inversion recovery spin echo",
        T1,
        0.8,
        tr=(1500, 3500),
        te=(None, 30),
        ti=(600, 1300),
        inversion=frozenset({"yes"}),
        echo=frozenset({"SE"}),
    ),
    PhysicsRule(
        "short TR and TE",
        T1,
        0.9,
        tr=(None, 1000),
        te=(None, 30),
        inversion=frozenset({"no", "unknown"}),
        echo=frozenset({"SE", "unknown"}),
    ),
    PhysicsRule("short TR and TE gradient echo", T1, 0.85, tr=(None, 1000), te=(None, 10), echo=frozenset({"GR"})),
    PhysicsRule(
        "gradient echo with long TE (T2*)",
        OTHER,
        0.8,
        te=(15, None),
        inversion=frozenset({"no", "unknown"}),
        echo=frozenset({"GR"}),
    ),
    PhysicsRule(
        "long TR and TE",
        T2,
        0.9,
        tr=(2000, None),
        te=(70, None),
        inversion=frozenset({"no"}),
        echo=frozenset({"SE", "unknown"}),
    ),
    PhysicsRule(
        "long TR and TE (inversion unknown)",
        T2,
        0.6,
        tr=(2000, None),
        te=(70, None),
        inversion=frozenset({"unknown"}),
        echo=frozenset({"SE", "unknown"}),
    ),
    PhysicsRule("echo-planar readout (diffusion, BOLD, perfusion)", OTHER, 0.85, echo=frozenset({"EP"})),
    PhysicsRule(
        "long TR, short TE (proton density)",
        OTHER,
        0.7,
        tr=(2000, None),
        te=(None, 30),
        inversion=frozenset({"no"}),
        echo=frozenset({"SE", "unknown"}),
    ),
)
"""Timing rules; every rule that fits is evidence (they are not ordered)."""


@dataclass(frozen=True)
class ContrastRules:
    """The whole rule set of contrast identification, with the weights of contrast-agent evidence.

    Attributes:
        name_rules: rules for SeriesDescription and ProtocolName, first match per field.
        sequence_rules: rules for SequenceName, first match.
        declared: header-declared contrasts (Acquisition Contrast, Image Type value 3).
        declared_weight: weight of a declared contrast.
        physics_rules: timing rules.
        post_words, pre_words: regexes of post- and pre-contrast words in names.
        name_enhancement_weight: weight of a post/pre word in a name.
        bolus_timing_weight: weight of acquisition time vs ContrastBolusStartTime.
        bolus_tags_weight: weight of Contrast/Bolus attributes without a usable start time.
        study_order_weight: weight of "acquired after a same-kind T1 in a study with contrast evidence".
        confident: confidence at or above which an identification counts as confident.
    """

    name_rules: tuple[NameRule, ...] = NAME_RULES
    sequence_rules: tuple[NameRule, ...] = SEQUENCE_RULES
    declared: tuple[tuple[str, Contrast], ...] = tuple(DECLARED.items())
    declared_weight: float = 0.6
    physics_rules: tuple[PhysicsRule, ...] = PHYSICS_RULES
    post_words: str = _POST_WORDS
    pre_words: str = _PRE_WORDS
    name_enhancement_weight: float = 0.8
    bolus_timing_weight: float = 0.9
    bolus_tags_weight: float = 0.6
    study_order_weight: float = 0.7
    confident: float = 0.6

    def __post_init__(self) -> None:
        _check_regex("post_words", self.post_words)
        _check_regex("pre_words", self.pre_words)
        for name in ("declared_weight", "name_enhancement_weight", "bolus_timing_weight", "bolus_tags_weight"):
            _check_weight(name, getattr(self, name))
        _check_weight("study_order_weight", self.study_order_weight)
        _check_weight("confident", self.confident)


DEFAULT_RULES = ContrastRules()
