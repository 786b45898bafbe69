"""The pipeline's stages: one module per trained or measured stage.

``sft``, ``preference_data`` (reward-model comparisons sampled from a policy), ``reward``
(outcome and multi-task RMs, with ``multitask_rm``), ``prm`` (process RM training), ``rl``
(GRPO/RLOO through TRL), ``ppo`` (our own PPO), ``tracking`` (gold, proxy and KL along RL),
``evaluation``; ``common`` holds what the trainers share.

Each stage is a config dataclass (help text on every field, checks at construction) and a
function ``(config, inputs, out_dir) -> metrics`` that writes its artifacts into ``out_dir``.
Caching and run identity are the run store's job, composition the pipeline's.
"""
