"""Figures: drawing primitives (:mod:`.draw`), RoPE theory figures (:mod:`.theory`), figures of results files
(:mod:`.runs`), the comparison with the paper (:mod:`.compare`) and the catalog of every figure in ``figures/``
(:mod:`.catalog`)."""
