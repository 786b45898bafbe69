"""The RM data builder: exact counts for every knob, and refusals before any training."""
import random

import pytest

from rlhf_nb.axes.orm_vs_prm import SupervisionGrid
from rlhf_nb.axes.rm_data import RMDataGrid, parse_grid
from rlhf_nb.pipeline.rm_runs import RMEvalConfig, parse_ns
from rlhf_nb.stages.preference_data import (
    ComparisonSpec,
    ResponsePool,
    balanced_pairs,
    max_pairs_per_prompt,
    select_comparisons,
)
from rlhf_nb.stages.reward import RewardStageConfig
from rlhf_nb.tasks.addition import Problem


def synthetic_chunks(responses: int, share_right: float, seed: int = 0, chunk: int = 50):
    """Endless pools of labelled responses, no model involved: response text j of prompt i is 'i:j'."""
    rng, index = random.Random(seed), 0
    while True:
        prompts = [f"{index * chunk + i}+1=" for i in range(chunk)]
        correct = [[rng.random() < share_right for _ in range(responses)] for _ in prompts]
        texts = [[f"{p}{j}" for j in range(responses)] for p in prompts]
        problems = [Problem((index * chunk + i, 1)) for i in range(chunk)]
        yield ResponsePool(prompts, texts, correct, problems)
        index += 1


@pytest.mark.parametrize("prompts,responses,comparisons,epochs", [
    (64, 2, 64, 1), (32, 4, 64, 1), (16, 8, 64, 2), (8, 16, 64, 1), (10, 4, 37, 3), (5, 6, 45, 1),
])
def test_counts_are_exact_for_every_knob(prompts, responses, comparisons, epochs):
    spec = ComparisonSpec(prompts, responses, comparisons, epochs)
    data = select_comparisons(synthetic_chunks(responses + 2, 0.5), spec, seed=0)
    pairs = data.comparisons
    assert len(pairs) == comparisons and spec.trained_comparisons == comparisons * epochs
    per_prompt = {}
    for c in pairs:
        per_prompt[c.prompt] = per_prompt.get(c.prompt, 0) + 1
    assert len(per_prompt) == prompts
    assert sorted(per_prompt.values(), reverse=True) == spec.quotas()
    assert max(per_prompt.values()) - min(per_prompt.values()) <= 1
    for c in pairs:  # chosen right, rejected wrong, both among the first `responses` samples, pairs distinct
        assert int(c.chosen.split("=")[1]) < responses and int(c.rejected.split("=")[1]) < responses
        assert c.problem is not None and c.problem.prompt == c.prompt
    assert len({(c.prompt, c.chosen, c.rejected) for c in pairs}) == comparisons
    stats = data.stats()
    assert stats["data/comparisons"] == comparisons and stats["data/distinct_prompts"] == prompts
    assert stats["data/epochs"] == epochs and stats["data/sampled_prompts"] >= prompts


def test_pairs_are_right_over_wrong_and_the_same_for_the_same_seed():
    spec = ComparisonSpec(20, 4, 40)
    chunks = list(zip(range(5), synthetic_chunks(4, 0.4, seed=3)))
    a = select_comparisons((c for _, c in chunks), spec, seed=1).comparisons
    b = select_comparisons((c for _, c in chunks), spec, seed=1).comparisons
    assert a == b
    labels = {}
    for _, pool in chunks:
        for p, texts, ok in zip(pool.prompts, pool.responses, pool.correct):
            labels.update({(p, t): o for t, o in zip(texts, ok)})
    assert all(labels[(c.prompt, c.chosen)] and not labels[(c.prompt, c.rejected)] for c in a)


def test_depth_and_volume_points_nest():
    """Same responses and pairs per prompt: a smaller volume takes a prefix of a larger one's prompts."""
    small = select_comparisons(synthetic_chunks(4, 0.5), ComparisonSpec(16, 4, 32), seed=0).comparisons
    large = select_comparisons(synthetic_chunks(4, 0.5), ComparisonSpec(64, 4, 128), seed=0).comparisons
    assert [c.prompt for c in small] == [c.prompt for c in large[: len(small)]]


def test_balanced_pairs_use_every_response_evenly():
    pairs = balanced_pairs([0, 1], [2, 3, 4, 5], 4, random.Random(0))
    assert len(set(pairs)) == 4
    uses = {i: sum(i in p for p in pairs) for i in range(6)}
    assert uses[0] == uses[1] == 2 and all(uses[j] == 1 for j in (2, 3, 4, 5))
    with pytest.raises(ValueError):
        balanced_pairs([0], [1], 2, random.Random(0))


@pytest.mark.parametrize("make,needle", [
    (lambda: ComparisonSpec(100, 2, 50), "comparisons=50 < n_prompts=100"),
    (lambda: ComparisonSpec(10, 4, 50), "raise n_prompts to 13 or responses_per_prompt to 5"),
    (lambda: ComparisonSpec(10, 1, 10), "two responses"),
    (lambda: ComparisonSpec(0, 4, 10), "n_prompts=0"),
    (lambda: ComparisonSpec(10, 4, 10, epochs=0), "epochs=0"),
    (lambda: RewardStageConfig(n_prompts=10, responses_per_prompt=2, comparisons=30), "raise n_prompts to 30"),
    (lambda: RewardStageConfig(supervision="dpo"), "supervision"),
    (lambda: RewardStageConfig(aggregate="max"), "aggregate"),
    (lambda: RMDataGrid(diversity=((100, 2),), equal_comparisons=300), "asks 3 (right, wrong) pairs"),
    (lambda: RMDataGrid(epochs_k=1), "epochs_k=1"),
    (lambda: SupervisionGrid(supervisions=("orm", "rlhf")), "unknown"),
    (lambda: RMEvalConfig(samples_per_prompt=16, ns=(1, 32)), "raise samples_per_prompt to 32"),
    (lambda: parse_grid("512by4"), "PROMPTSxRESPONSES"),
])
def test_impossible_knobs_are_refused_with_the_numbers_and_the_fix(make, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_a_pool_that_cannot_supply_is_refused_with_its_numbers():
    spec = ComparisonSpec(10, 4, 20)
    with pytest.raises(ValueError, match=r"only \d+ of the n_prompts=10 prompts .* Raise max_pool_prompts above 40"):
        select_comparisons(synthetic_chunks(4, 0.02), spec, seed=0, max_pool_prompts=40)
    with pytest.raises(ValueError, match="the pool holds 2 responses per prompt"):
        select_comparisons(synthetic_chunks(2, 0.5), spec, seed=0)


def test_max_pairs_and_quotas():
    assert [max_pairs_per_prompt(r) for r in (2, 3, 4, 5, 16)] == [1, 2, 4, 6, 64]
    assert ComparisonSpec(3, 4, 10).quotas() == [4, 3, 3]
    exact = RewardStageConfig(n_prompts=8, responses_per_prompt=4, comparisons=16)
    assert exact.data_spec() == ComparisonSpec(8, 4, 16)
    assert RewardStageConfig().data_spec() is None  # the older per-prompt rule
    assert parse_ns("", 64) == (1, 2, 4, 8, 16, 32, 64) and parse_ns("4,1,2") == (1, 2, 4)
