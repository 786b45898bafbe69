"""Compute accounting: FLOPs estimates per stage, so gain per FLOP can be compared across axes.

The usual transformer estimates (Kaplan et al. 2020): a forward pass costs 2 N FLOPs per
token and a training step (forward + backward) 6 N, with N the non-embedding parameters.
Attention's sequence-length term is left out: sequences here are short (< 64 tokens), where
it is a few percent. These are estimates for comparison, not measurements.
"""
from __future__ import annotations


def forward_flops(n_params: int, tokens: int) -> float:
    """FLOPs of running ``tokens`` tokens forward through a model of ``n_params`` parameters."""
    return 2.0 * n_params * tokens


def train_flops(n_params: int, tokens: int) -> float:
    """FLOPs of training on ``tokens`` tokens (forward and backward)."""
    return 6.0 * n_params * tokens
