"""Stage 4, synthesis: the model run on the common grid, its output sampled onto the reference series."""
