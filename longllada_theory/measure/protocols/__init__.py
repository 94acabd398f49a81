"""The measurements, one :class:`~longllada_theory.measure.protocol.Protocol` per module: perplexity
(:mod:`.perplexity`), the needle-in-a-haystack grid (:mod:`.niah`, NeedleBench's own prompts in :mod:`.needlebench`),
a RULER-style task suite (:mod:`.ruler`), attention statistics (:mod:`.attention`) and retrieval heads
(:mod:`.retrieval`)."""
