"""Missing-contrast scenarios: every non-empty proper subset of the model's contrasts (14 for four, 2 for two)."""

from __future__ import annotations

from itertools import combinations

from models.data.preprocessing import ModelGridVolume


def all_scenarios(contrasts: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Missing sets, fewest missing first, in the model's contrast order."""
    return [m for k in range(1, len(contrasts)) for m in combinations(contrasts, k)]


def scenario_name(missing: tuple[str, ...], contrasts: tuple[str, ...]) -> str:
    present = [c for c in contrasts if c not in missing]
    return f"{'+'.join(present)} -> {'+'.join(missing)}"


def parse_scenarios(text: str | None, contrasts: tuple[str, ...]) -> list[tuple[str, ...]]:
    """'all' / None, or missing sets separated by ';' with contrasts by ',' (e.g. "flair;t1ce,flair")."""
    if not text or text == "all":
        return all_scenarios(contrasts)
    scenarios = []
    for part in text.split(";"):
        missing = tuple(c for c in contrasts if c in {x.strip() for x in part.split(",")})
        unknown = {x.strip() for x in part.split(",")} - set(contrasts)
        if unknown or not missing or len(missing) == len(contrasts):
            raise ValueError(f"scenario {part!r}: needs 1 to {len(contrasts) - 1} of {list(contrasts)}")
        scenarios.append(missing)
    return scenarios


def present_only(grid: ModelGridVolume, missing: tuple[str, ...]) -> ModelGridVolume:
    """The same grid with the missing contrasts removed: what the model is given."""
    keep = [i for i, c in enumerate(grid.contrasts) if c not in missing]
    return ModelGridVolume(
        images=grid.images[keep],
        contrasts=tuple(grid.contrasts[i] for i in keep),
        affine=grid.affine,
        foreground=grid.foreground,
        intensity_ranges={c: grid.intensity_ranges[c] for c in grid.contrasts if c not in missing},
        labels=grid.labels,
        brain_mask=grid.brain_mask,
    )
