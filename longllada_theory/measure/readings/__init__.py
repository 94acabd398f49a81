"""Readings of finished runs: local perception from the probe's statistics (:mod:`.locality`), RoPE pair use
(:mod:`.pairs`), the mask-count sweep over NIAH runs (:mod:`.masks`)."""
