"""Training of the MSG-LDM stages and of the baselines, one module per stage, sharing one loop."""
