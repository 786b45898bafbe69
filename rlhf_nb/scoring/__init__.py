"""Scoring: sampling from a policy and log-probs, reward callables, reward models, best-of-n.

- :mod:`.sampling`: samples and teacher-forced log-probs;
- :mod:`.rewards`: the gold reward and the token ids every reward model reads;
- :mod:`.reward_models`: loading and scoring any trained reward model;
- :mod:`.best_of_n`: the unbiased best-of-n estimator over a sample pool.
"""
