"""Curve fitting for scaling studies: forms, fits with intervals and flags, comparisons, effects, plots.

Modules, one concern each: ``forms`` (equations and closed-form diminishing returns),
``validation`` (input checks), ``solvers`` (least squares and variable projection),
``bootstrap`` (seeded resampling), ``fitting`` (``fit_curve``), ``compare`` (``compare_forms``),
``ratio`` (two x values), ``scalerl`` (the ScaleRL sigmoid of pass rate against RL compute), ``decision`` (the pre-registered decision protocol: every verdict),
``bon_kl`` (exact best-of-n KL), ``variance_split`` (a part's variance split between measurement and
training noise by the split-half prompt jackknife, reported beside a verdict, never evidence), ``plotting``, ``summary`` (table -> described fit, for notebooks). See ``docs/fitting.md`` for the practice they follow.

>>> import numpy as np
>>> from rlhf_nb.analysis import fit_curve
>>> x = np.geomspace(1, 1e4, 20)
>>> round(fit_curve(x, 2 + 5 * x**-0.3, "saturating_power", n_boot=0).params["alpha"], 6)
0.3
"""
from .bon_kl import exact_bon_kl, exact_bon_kl_curve
from .compare import compare_forms
from .decision import (
    CLAIMS,
    INCONCLUSIVE,
    NOT_SHOWN,
    SHOWN,
    TWO_LOOK_LEVELS,
    CompoundDecision,
    Decision,
    PartSpec,
    decide,
    decide_compound,
    expected_false_verdicts,
    holm_count,
    multiplicity_summary,
    seeds_needed,
    two_look_level,
)
from .fitting import FitResult, Flag, fit_curve
from .forms import FORMS, Form, bon_kl_bound, get_form
from .plotting import plot_fit
from .ratio import RatioSummary, ratio_summary
from .scalerl import SigmoidFit, fit_scalerl, forecast_check
from .summary import (
    Analysis,
    analyse_runs,
    describe_fit,
    parse_forms,
    save_analysis,
    synthetic_runs,
)

__all__ = [
    "FORMS", "Form", "get_form", "bon_kl_bound",
    "fit_curve", "FitResult", "Flag",
    "compare_forms",
    "ratio_summary", "RatioSummary",
    "fit_scalerl", "SigmoidFit", "forecast_check",
    "SHOWN", "NOT_SHOWN", "INCONCLUSIVE",
    "plot_fit",
    "analyse_runs", "Analysis", "describe_fit", "parse_forms", "save_analysis", "synthetic_runs",
    "decide", "Decision", "decide_compound", "CompoundDecision", "PartSpec", "CLAIMS",
    "TWO_LOOK_LEVELS", "two_look_level", "seeds_needed", "holm_count", "expected_false_verdicts",
    "multiplicity_summary",
    "exact_bon_kl", "exact_bon_kl_curve",
]
