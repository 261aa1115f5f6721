"""Stage 2, identification: which series is T1, T1ce, T2 or FLAIR (tags first, pixels when tags say nothing)."""
