"""rlhf_nb: measure how RLHF scales, on an embedded task or on real checkpoints."""

__version__ = "0.1.0"
