"""The findings registry: every finding the study decides, with its claim and the axis that decides it.

One place for the claim texts: the axes state their findings under these ids and claims, the
report lists them in this order (a finding no axis produced is "not tested"), and the study's
pre-flight knows which axis notebook decides which finding. The estimands, smallest effects of
interest and the decision protocol are in ``docs/findings.md``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FindingSpec:
    id: str
    """``H1``-``H8`` (Hou et al. 2024), ``G1``-``G8`` (Gao et al. 2022), a reported half such as ``H3-bon``, or
    ``D1``, ``D2``, ``S1`` (beyond the papers)"""
    axis: str
    """the axis notebook that decides it"""
    claim: str
    """the claim in one line, as the scorecard shows it"""
    source: str
    """the paper the claim comes from"""
    scored: bool = True
    """False for a half reported beside its finding and for the findings beyond the papers: not among the 16"""


HOU, GAO = "Hou et al. 2024", "Gao et al. 2022"
BEYOND = "beyond the papers"
"""the source of findings neither paper tests (D1, D2 after Rafailov et al. 2024; S1 after Khatri et al. 2025):
decided by the same protocol, shown in their own section, never counted among the 16"""
_SPECS = (
    FindingSpec("H1", "samples_per_prompt", "samples per prompt saturate", HOU),
    FindingSpec("H2", "rm_data", "prompt diversity beats responses per prompt", HOU),
    FindingSpec("H3", "rm_size_for_rl", "a larger RM gives a modest policy gain", HOU),
    FindingSpec("H4", "policy_size", "a larger policy gains less from a fixed RM", HOU),
    FindingSpec("H5", "method", "PPO ≈ GRPO", HOU),
    FindingSpec("H6", "rl_length_kl", "diminishing returns in RL steps", HOU),
    FindingSpec("H7", "orm_vs_prm", "PRM vs ORM", HOU),
    FindingSpec("H8", "method", "task heterogeneity: RL gains more in distribution than out of it", HOU),
    FindingSpec("G1", "best_of_n", "best-of-n shape: gold(d) = d(α - βd) rises then falls", GAO),
    FindingSpec("G2", "rl_length_kl", "RL shape: gold(d) = d(α - β ln d) rises then falls", GAO),
    FindingSpec("G3", "best_of_n", "RM size, best-of-n: α_bon rises and β_bon falls with RM size", GAO),
    FindingSpec("G4", "rm_size_for_rl", "RM size, RL: one α_RL for all RM sizes, β_RL falls with RM size", GAO),
    FindingSpec("G5", "rm_data", "data threshold and epochs", GAO),
    FindingSpec("G6", "rl_length_kl", "RL spends more KL than best-of-n for the same gold gain", GAO),
    FindingSpec("G7", "rl_length_kl", "a KL penalty acts like early stopping along one gold-vs-KL frontier", GAO),
    FindingSpec("G8", "policy_size", "policy size: a larger policy gains less gold and peaks at about the same KL",
                GAO),
    FindingSpec("H3-bon", "rm_size", "a larger RM gives a larger best-of-n gain (the best-of-n half of H3)", HOU,
                scored=False),
    FindingSpec("D1", "direct_alignment", "DPO shape: along DPO training gold(d) = d(α - β ln d) rises then falls",
                BEYOND, scored=False),
    FindingSpec("D2", "direct_alignment", "RM + RL ≈ DPO on the same preferences at matched KL", BEYOND, scored=False),
    FindingSpec("S1", "method", "RL recipes differ in compute efficiency B more than in asymptote A", BEYOND,
                scored=False),
)
FINDINGS: dict[str, FindingSpec] = {s.id: s for s in _SPECS}
"""id -> spec, in scorecard order"""
SCORED = tuple(s.id for s in _SPECS if s.scored)
"""the findings the scorecard counts, in order"""
BEYOND_SCORED = tuple(s.id for s in _SPECS if s.source == BEYOND)
"""the findings beyond the two papers, each decided on its own (not a reported half), in order; never in SCORED"""


def claim(finding_id: str) -> str:
    """The registered claim of ``finding_id``; KeyError names the known ids."""
    try:
        return FINDINGS[finding_id].claim
    except KeyError:
        raise KeyError(f"unknown finding {finding_id!r}: the registry has {list(FINDINGS)}") from None


def decided_by(axis: str) -> tuple[str, ...]:
    """The findings ``axis`` decides."""
    return tuple(s.id for s in _SPECS if s.axis == axis)
