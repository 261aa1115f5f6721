"""Baselines MSG-LDM is measured against: nearest contrast (here); U-Net regression and LDM without structure follow."""
