"""Physics-based simulator of multi-contrast brain MRI (T1, T1ce, T2, FLAIR).

No real multi-contrast data set can be downloaded on the machines this project
is built on, so the demo study, the tests, the shipped model and the benchmarks
all stand on simulated subjects: MNI152 tissue maps, deformed per subject, with
gliomas or white-matter hyperintensities, whose signal is computed from tissue
relaxation times with the sequences' own equations.
"""

CONTRASTS: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")
