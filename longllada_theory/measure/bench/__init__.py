"""Benchmarks printing measured ratios: speed and memory of the probe, the diffusion estimator and the sampler
(:mod:`.bench`), peak memory (:mod:`.memory`)."""
