"""Stage 3, volume: each chosen series as a volume from its geometry, all on one common grid; the reference."""
