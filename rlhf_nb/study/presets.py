"""Study presets: which axis notebooks run, with which seeds and grids.

``smoke`` is a first look and the CI check (minutes), ``default`` every axis with 3 seeds
(rl_length_kl with 6: see :data:`DEFAULT_RATIONALE`) in about half an hour on 2 cores, ``full``
5 seeds and wider grids. A preset's :meth:`StudyPreset.design` is its declared design; the
study writes it to ``design.json`` before anything runs, and the report states it.
Grid values are notebook parameters, so each preset is documented by the notebooks'
parameters cells (``papermill --help-notebook notebooks/<axis>.ipynb``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AXES = ("rm_data", "rm_size", "orm_vs_prm", "best_of_n",
        "samples_per_prompt", "policy_size", "rm_size_for_rl", "rl_length_kl", "method")


@dataclass(frozen=True)
class StudyPreset:
    name: str
    seeds: tuple[int, ...]
    axes: tuple[str, ...] = AXES
    grids: dict[str, dict[str, Any]] = field(default_factory=dict)
    """per-axis notebook parameters overriding the notebook defaults"""
    shared: dict[str, Any] = field(default_factory=dict)
    """parameters given to every axis notebook"""
    pipeline: dict[str, Any] | None = None
    """parameters of a showcase run of notebooks/pipeline.ipynb, or None for none"""
    axis_seeds: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """per-axis seeds replacing ``seeds`` for that axis: the seed budget declared before the study runs"""
    rationale: str = ""
    """why the design spends its seeds as it does, stated in the report"""

    def __post_init__(self):
        unknown = set(self.axis_seeds) - set(self.axes)
        if unknown:
            raise ValueError(f"preset {self.name!r}: axis_seeds names axes it does not run: {sorted(unknown)}")
        for axis, seeds in {"(all)": self.seeds, **self.axis_seeds}.items():
            if len(set(seeds)) != len(seeds) or not seeds:
                raise ValueError(f"preset {self.name!r}: the seeds of {axis} must be distinct and at least one")

    def seeds_for(self, axis: str) -> tuple[int, ...]:
        """The seeds ``axis`` runs with: its own budget, else the preset's."""
        return tuple(self.axis_seeds.get(axis, self.seeds))

    def design(self) -> dict[str, Any]:
        """The declared design as data: per axis its seeds, a single look at 95 %, and the rationale."""
        return {"preset": self.name, "looks": 1, "interval_level": 0.95,
                "seeds": {axis: list(self.seeds_for(axis)) for axis in self.axes},
                "showcase_pipeline": self.pipeline is not None, "rationale": self.rationale}


PRESETS: dict[str, StudyPreset] = {}


def register(preset: StudyPreset) -> StudyPreset:
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> StudyPreset:
    if name not in PRESETS:
        raise ValueError(f"unknown study preset {name!r}: use one of {sorted(PRESETS)}")
    return PRESETS[name]


# Smoke: every notebook end to end at toy scale (the smallest policy, a few steps), one seed.
_TOY_POLICY = {"policy": "xs", "sft_steps": 200}
_TOY_RM_EVAL = {"eval_prompts": 16, "bon_pool_size": 16}
_TOY_RL = {**_TOY_POLICY, "rm_prompts": 256, "rl_steps": 6, "track_every_steps": 3, "track_prompts": 16,
           "train_prompts": 64, "eval_prompts": 16, "eval_samples": 2}
SMOKE_GRIDS = {
    "rm_data": {**_TOY_POLICY, **_TOY_RM_EVAL, "diversity_grid": "32x2,16x4", "equal_comparisons": 32,
                "volumes": "32,128", "epochs_base": 32, "epochs_k": 2},
    "rm_size": {**_TOY_POLICY, **_TOY_RM_EVAL, "sizes": "xs,s", "rm_prompts": 32, "rm_comparisons": 64},
    "orm_vs_prm": {**_TOY_POLICY, **_TOY_RM_EVAL, "volumes": "32,64"},
    "best_of_n": {**_TOY_POLICY, **_TOY_RM_EVAL, "sizes": "xs,s", "rm_prompts": 32, "rm_comparisons": 64},
    "samples_per_prompt": {**_TOY_RL, "samples_per_prompt": "2,4", "prompts_per_step": 4, "equal_total": 8},
    "policy_size": {**{k: v for k, v in _TOY_RL.items() if k != "policy"}, "policies": "xs,s", "rm_policy": "xs"},
    "rm_size_for_rl": {**_TOY_RL, "rm_policies": "xs,s", "bon_n": 8, "rm_prompts": 32, "rm_comparisons": 64},
    "rl_length_kl": {**_TOY_RL, "kl_coefs": "0,0.2", "bon_n": 8},
    "method": {**_TOY_RL, "prompts_per_step": 4, "samples_per_prompt": 2},
}
SMOKE_PIPELINE = {"policy": "xs", "sft_steps": 200, "rm_prompts": 256, "rl_steps": 6, "prompts_per_step": 4,
                  "samples_per_prompt": 2, "eval_prompts": 16}

# Default: every axis with 3 seeds (rl_length_kl 6, see DEFAULT_RATIONALE), grids trimmed from the notebooks'
# own; 32.6 min from an empty store on 2 cores. Full uses wider grids with 5 seeds.
# The RL axes share one RL length, tracking interval and evaluation size, so a run that two
# axes both need (policy s against the RM of s, KL 0 or 0.2, GRPO) is trained once: the
# policy-size, RM-size-for-RL, RL-length/KL and method axes all reuse it from the store.
_DEFAULT_RL = {"rl_steps": 60, "track_every_steps": 10, "eval_prompts": 128}
DEFAULT_GRIDS = {
    "rm_data": {"eval_prompts": 48, "bon_pool_size": 32},
    "rm_size": {"eval_prompts": 48, "bon_pool_size": 32},
    "orm_vs_prm": {"supervisions": "orm,prm", "volumes": "64,256,1024", "eval_prompts": 48, "bon_pool_size": 32},
    "best_of_n": {"eval_prompts": 48, "bon_pool_size": 32},
    "samples_per_prompt": {**_DEFAULT_RL, "samples_per_prompt": "2,4,8", "rl_algorithm": "grpo"},
    "policy_size": {**_DEFAULT_RL, "policies": "xs,s,m"},  # H4 and G8 need 3 sizes (m's RL adds ~110 s a seed)
    "rm_size_for_rl": {**_DEFAULT_RL, "rm_policies": "xs,s,m"},
    "rl_length_kl": {**_DEFAULT_RL, "kl_coefs": "0,0.05,0.2"},
    "method": {**_DEFAULT_RL},
}

# Full: 5 seeds and wider grids than the notebooks' defaults: longer RL (still one length
# shared by the RL axes), larger evaluations and best-of-n pools, one sample per prompt
# (PPO, whose value model needs no group) in the samples-per-prompt axis.
_FULL_RL = {"rl_steps": 150, "track_every_steps": 10, "eval_prompts": 256}
_FULL_RM_EVAL = {"eval_prompts": 64, "bon_pool_size": 64}
FULL_GRIDS = {
    "rm_data": dict(_FULL_RM_EVAL),
    "rm_size": dict(_FULL_RM_EVAL),
    "orm_vs_prm": {**_FULL_RM_EVAL, "supervisions": "orm,prm,multitask"},
    "best_of_n": dict(_FULL_RM_EVAL),
    "samples_per_prompt": {**_FULL_RL, "samples_per_prompt": "1,2,4,8", "rl_algorithm": "ppo"},
    "policy_size": {**_FULL_RL, "policies": "xs,s,m"},
    "rm_size_for_rl": {**_FULL_RL, "rm_policies": "xs,s,m"},
    "rl_length_kl": {**_FULL_RL, "rl_steps": 300, "kl_coefs": "0,0.05,0.2"},
    "method": dict(_FULL_RL),
    # Beyond the papers (D1, D2): at these settings its RM + GRPO arm is the method axis's GRPO run (store hit).
    "direct_alignment": dict(_FULL_RL),
}
FULL_AXES = AXES + ("direct_alignment",)
"""the full preset's axes: every default axis, and direct alignment (D1, D2), which the default leaves out to keep
its 30 minutes"""

register(StudyPreset(name="full", seeds=(0, 1, 2, 3, 4), axes=FULL_AXES, grids=FULL_GRIDS, pipeline={}))
# The default design, declared before it runs (one look, 95 % intervals, docs/findings.md): every axis
# 3 seeds, except the RL length / KL axis, which decides four findings (H6, G2, G6, G7) and costs the
# least per seed of the RL axes, so it gets 6. No showcase pipeline run: no verdict reads it.
DEFAULT_RATIONALE = (
    "Every axis runs 3 seeds, except rl_length_kl with 6: it decides four findings (H6, G2, G6, G7), "
    "which at the spreads of a 3-seed study needed 4-12 seeds, and it is the cheapest RL axis per extra "
    "seed (one SFT model of the s preset and three 60-step RL runs). The other axes' findings needed more "
    "seeds than the 30-minute budget buys, so they keep 3 (their verdicts are what 3 seeds show). "
    "One look, 95 % t intervals over seeds, as docs/findings.md pre-registers; the showcase pipeline "
    "run is left to the full preset, since no verdict reads it.")
register(StudyPreset(name="default", seeds=(0, 1, 2), grids=DEFAULT_GRIDS, pipeline=None,
                     axis_seeds={"rl_length_kl": (0, 1, 2, 3, 4, 5)}, rationale=DEFAULT_RATIONALE))
register(StudyPreset(name="smoke", seeds=(0,), grids=SMOKE_GRIDS, pipeline=SMOKE_PIPELINE))
