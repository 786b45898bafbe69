"""Tasks: what a policy is asked and how an answer is judged.

- :mod:`.protocol`: the :class:`~rlhf_nb.tasks.protocol.Task` every stage asks for;
- :mod:`.addition`: the embedded chain-of-thought addition task, gold and step verifiers;
- :mod:`.tokenizer`: the embedded task's character tokenizer;
- :mod:`.local_data`: GSM8K/MATH-style problems from a local file;
- :mod:`.answers`: reading numeric final answers as people write them;
- :mod:`.registry`: a task from a notebook's ``task`` and ``task_options`` parameters.
"""
