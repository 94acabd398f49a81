"""RoPE theory: angles, periods, the critical dimension and the extrapolation bound (:mod:`.rope`), their symbolic
derivations (:mod:`.symbolic`), and the scaling methods with their plans (:mod:`.scaling`). numpy and sympy only."""
