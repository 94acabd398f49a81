"""Models: one :class:`~.spec.RopeSpec` from any source (:mod:`.sources`, :mod:`.presets`), the model-family
registry (:mod:`.families`), applying and verifying RoPE scaling (:mod:`.patching`) and loading (:mod:`.loading`).
Importing this package does not import torch."""
