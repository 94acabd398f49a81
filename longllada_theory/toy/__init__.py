"""The twin tiny RoPE models: one architecture (transformers' Gemma), trained twice — causal with next-token loss
(AR) and bidirectional with LLaDA's masked-diffusion loss — on byte-level text every Python install carries.
See :mod:`.data`, :mod:`.model`, :mod:`.train`, their measurements :mod:`.protocols`, the suite :mod:`.evaluation`,
its :mod:`.verdicts`, the scaling methods compared (:mod:`.methods`) and the attention on passkeys (:mod:`.probes`).
"""
