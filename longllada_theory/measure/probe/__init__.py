"""Attention instrumentation: the probe (:mod:`.probe`) and its statistics, one reducer each (:mod:`.reducers`); the
probe over every step of a diffusion sampler (:mod:`.denoising`); zeroing attention heads (:mod:`.ablation`)."""
