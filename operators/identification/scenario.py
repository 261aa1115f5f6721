"""Which contrasts to synthesize from which: the scenario, or why there is none.

The model serves any subset of T1, T1ce, T2 and FLAIR as input. Quality
falls with fewer inputs (models/MODEL_CARD.md gives the numbers per
scenario), so by default a study needs two contrasts present before the node
synthesizes the others; `min_present` sets that policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from product.choices import DEFAULT_MIN_PRESENT

CONTRASTS = ("t1", "t1ce", "t2", "flair")
"""The contrasts the node identifies and the model synthesizes, in the model's channel order."""


@dataclass(frozen=True)
class Scenario:
    """Present and missing contrasts, in model order; `skip_reason` set when nothing is to be synthesized."""

    present: tuple[str, ...]
    missing: tuple[str, ...]
    skip_reason: str | None = None

    @property
    def name(self) -> str:
        """E.g. "t1+t1ce+t2 -> flair" (the evaluation tables use the same names)."""
        return f"{'+'.join(self.present) or 'nothing'} -> {'+'.join(self.missing) or 'nothing'}"


def decide_scenario(
    present: list[str] | tuple[str, ...],
    contrasts: tuple[str, ...] = CONTRASTS,
    min_present: int = DEFAULT_MIN_PRESENT,
    acquired_unusable: list[str] | tuple[str, ...] = (),
) -> Scenario:
    """The scenario for a study whose identified contrasts are `present`.

    Args:
        present: contrast keys found in the study (any order; unknown keys are an error).
        contrasts: what the model knows.
        min_present: fewest contrasts present to synthesize from (1 to len(contrasts) - 1).
        acquired_unusable: contrasts the study holds only in series the node cannot use: neither input nor
            synthesized (a synthetic copy of an acquired contrast would sit beside the real one).

    Returns:
        The scenario; with `skip_reason` when nothing is left to synthesize or fewer than `min_present` are present.

    Raises:
        ValueError: an unknown contrast key or a `min_present` out of range.
    """
    if not 1 <= min_present < len(contrasts):
        raise ValueError(f"min_present {min_present}: expected 1 to {len(contrasts) - 1}")
    unknown = sorted((set(present) | set(acquired_unusable)) - set(contrasts))
    if unknown:
        raise ValueError(f"contrast(s) {unknown}: expected some of {list(contrasts)}")
    have = tuple(c for c in contrasts if c in present)
    missing = tuple(c for c in contrasts if c not in present and c not in acquired_unusable)
    scenario = Scenario(have, missing)
    if not missing:
        unusable = [c for c in contrasts if c in acquired_unusable and c not in present]
        if unusable:
            return Scenario(
                have,
                missing,
                f"nothing to synthesize: {', '.join(unusable)} acquired but unusable (see the series' reasons), "
                f"the others present",
            )
        return Scenario(have, missing, f"all of {', '.join(contrasts)} are present: nothing to synthesize")
    if len(have) < min_present:
        found = ", ".join(have) if have else "none of them"
        return Scenario(
            have,
            missing,
            f"only {len(have)} of {', '.join(contrasts)} identified ({found}); at least {min_present} are needed "
            "to synthesize the others (option min_present)",
        )
    return scenario
