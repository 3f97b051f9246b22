"""The protocol steps, in flow order: one package per step, its endpoint(s) and its use case; no tables."""
