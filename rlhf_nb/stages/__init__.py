"""The pipeline's stages: SFT, reward model, RL, evaluation.

Each stage is a config dataclass (help text on every field, checks at construction) and a
function ``(config, inputs, out_dir) -> metrics`` that writes its artifacts into ``out_dir``.
Caching and run identity are the run store's job, composition the pipeline's.
"""
