"""Stage compositions through the run store, the pipeline report and the distributed launch entry point.

- :mod:`.runs`: SFT -> reward model -> RL -> evaluation, each stage cached (``run_pipeline``);
- :mod:`.rm_runs`: reward-model data chunks, reward models and their evaluation pools;
- :mod:`.policy_runs`: one RL grid point of a policy axis, its tidy rows, best-of-n;
- :mod:`.report`: the pipeline notebook's figure and summary;
- :mod:`.launch`: ``python -m rlhf_nb.pipeline.launch``, one stage under accelerate/torchrun.
"""
