"""Command line of the simulator: BraTS-layout and WMH-layout data sets, and DICOM studies.

python -m simulation brats --out DIR --subjects N --seed S [--whole-head] [--only SimBraTS_001,...]
python -m simulation wmh   --out DIR --subjects N --seed S [--whole-head]
python -m simulation study --out DIR --seed S [--vendor siemens|ge|philips]
                           [--contrasts t1,t1ce,t2,flair] [--whole-head]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from simulation import CONTRASTS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulation", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("brats", "BraTS2020-layout NIfTI data set"), ("wmh", "WMH-challenge-layout NIfTI data set")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--subjects", type=int, required=True)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--whole-head", action="store_true", help="keep skull and scalp (default: skull-stripped)")
        p.add_argument("--workers", type=int, default=2)
        if name == "brats":
            p.add_argument("--only", help="comma-separated case names to write (e.g. SimBraTS_001,SimBraTS_002)")
    p = sub.add_parser("study", help="one DICOM study as a scanner sends it")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vendor", choices=("siemens", "ge", "philips", "canon"), default="siemens")
    p.add_argument("--contrasts", default=",".join(CONTRASTS), help="comma-separated subset of t1,t1ce,t2,flair")
    p.add_argument("--whole-head", action="store_true", help="keep skull and scalp (default for studies)")
    p.add_argument("--skull-stripped", action="store_true", help="brain only, as BraTS ships")
    p.add_argument("--kind", choices=("glioma", "wmh", "healthy"), default="glioma")
    p = sub.add_parser("preview", help="PNG of one simulated subject's four contrasts")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", choices=("glioma", "wmh", "healthy"), default="glioma")
    p.add_argument("--whole-head", action="store_true")
    return parser


def _contrast_list(text: str) -> list[str]:
    chosen = [c.strip().lower() for c in text.split(",") if c.strip()]
    unknown = sorted(set(chosen) - set(CONTRASTS))
    if unknown or not chosen:
        raise SystemExit(f"--contrasts: unknown or empty {unknown or text!r}; choose from {','.join(CONTRASTS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    if args.command == "brats":
        from simulation.datasets import write_brats_dataset

        only = set(args.only.split(",")) if args.only else None
        paths = write_brats_dataset(args.out, args.subjects, args.seed, args.whole_head, args.workers, only)
    elif args.command == "wmh":
        from simulation.datasets import write_wmh_dataset

        paths = write_wmh_dataset(args.out, args.subjects, args.seed, args.whole_head, args.workers)
    elif args.command == "preview":
        import numpy as np

        from simulation.preview import save_preview
        from simulation.subject import sample_subject, simulate_subject

        params = sample_subject(np.random.default_rng(args.seed), kind=args.kind, whole_head=args.whole_head)
        paths = [str(save_preview(simulate_subject(params), args.out))]
    else:
        from simulation.dicom_study import write_study

        manifest = write_study(
            args.out,
            seed=args.seed,
            vendor=args.vendor,
            contrasts=_contrast_list(args.contrasts),
            whole_head=not args.skull_stripped,
            kind=args.kind,
        )
        print(manifest.describe())
        paths = [str(args.out)]
    logging.getLogger("simulation").info(
        "%d item(s) in %.1f s under %s", len(paths), time.perf_counter() - start, args.out
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
