"""Stage 2 of MSG-LDM: latent codec, availability masks and the sampler."""
