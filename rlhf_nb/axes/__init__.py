"""Scaling axes: one module per axis, each backing one notebook in ``notebooks/``.

The contract every axis follows, so the study runner and the report can treat them alike:

- ``run_seed(seed, store, **grid) -> pandas.DataFrame``: runs (or loads from the run store)
  every pipeline the axis needs for one seed and returns tidy rows, one per grid point,
  with a ``seed`` column. Shared stages come from the store, so running the same seed twice
  costs nothing and two axes that share an SFT model train it once.
- ``analyze(table, figures_dir) -> list[Finding]``: fits, effect sizes with intervals and
  verdicts for the findings the axis tests, from the table alone (no training).
- The notebook has parameters ``seeds`` (comma-separated string), ``analyze`` (bool),
  ``store_dir``, ``results_dir`` and the axis's grid; with ``analyze=False`` it only fills
  the store (the study runner runs one such execution per seed in parallel), with
  ``analyze=True`` it gathers all seeds, writes ``<results_dir>/tables/<axis>.csv``, the
  findings as ``<results_dir>/findings/<ID>.json`` and its figures, and ends with the finding
  in numbers.
"""
