"""The curve forms: equations, bases for least squares, and closed-form diminishing returns.

Each form is a :class:`Form` record: its parameters, the x domain it accepts, how to build
the least-squares basis for a given value of its one nonlinear parameter (variable
projection), its prediction and Jacobian, and the closed-form quantities that describe its
diminishing returns (gain per doubling, x at which a fraction q of the gain is reached,
the peak of the Gao forms). Formulas follow the table in ``docs/fitting.md``.

"Gain per doubling" is always the signed change ``y(2x) - y(x)``: positive for a rising
curve (accuracy), negative for a falling one (loss).

The Gao forms are written in ``d = sqrt(KL)``; converting KL to d is the caller's job
(:func:`rlhf_nb.analysis.fit_curve` does it with ``x_is="kl"``).

What it does not do: estimate anything (see ``solvers.py``) or check input (``validation.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

Params = Mapping[str, float]

POWER = "power"
SATURATING_POWER = "saturating_power"
LOG_LINEAR = "log_linear"
EXP_SATURATION = "exp_saturation"
GAO_BON = "gao_bon"
GAO_RL = "gao_rl"


@dataclass(frozen=True)
class Form:
    """One curve form. Fields are functions of plain numpy arrays; see module docstring."""

    name: str
    equation: str
    param_names: tuple[str, ...]
    x_domain: str
    """"positive" (x > 0: power and log forms) or "nonnegative" (x >= 0)."""
    log_space: bool
    """Fitted as ln y (the power law): needs y > 0, residuals are in log space."""
    nonlinear: str | None
    """The parameter searched on a grid (variable projection); None for linear forms."""
    basis: Callable[[np.ndarray, float | None], np.ndarray]
    """(x, theta) -> design matrix whose least-squares coefficients are the linear parameters."""
    from_coefs: Callable[[np.ndarray, float | None], dict[str, float]]
    predict: Callable[[Params, np.ndarray], np.ndarray]
    jacobian: Callable[[Params, np.ndarray], np.ndarray]
    """d(fitted quantity)/d(params), in the space the residuals live in (ln y for the power law)."""
    derived: Callable[[Params, float, float, float], dict[str, float]]
    """(params, x_first, x_last, q) -> closed-form diminishing-return quantities."""
    is_gao: bool = False

    @property
    def n_params(self) -> int:
        return len(self.param_names)


def _doubling_gains(predict: Callable[[np.ndarray], np.ndarray], x_first: float, x_last: float) -> dict[str, float]:
    """Gain over the first doubling from x_first and over the last doubling ending at x_last."""
    y = predict(np.array([x_first, 2.0 * x_first, x_last / 2.0, x_last]))
    first, last = y[1] - y[0], y[3] - y[2]
    ratio = last / first if first != 0 else np.nan
    return {"gain_first_doubling": first, "gain_last_doubling": last, "last_to_first_gain_ratio": ratio}


def _xlogx(x: np.ndarray) -> np.ndarray:
    """x ln x with its limit 0 at x = 0, so the Gao RL form accepts d = 0."""
    x = np.asarray(x, dtype=float)
    out = np.zeros_like(x)
    pos = x > 0
    out[pos] = x[pos] * np.log(x[pos])
    return out


# --- power law: y = c x^b, fitted as ln y = ln c + b ln x ---------------------------------

def _power_predict(p: Params, x: np.ndarray) -> np.ndarray:
    return p["c"] * np.asarray(x, dtype=float) ** p["b"]


def _power_derived(p: Params, x_first: float, x_last: float, q: float) -> dict[str, float]:
    # No limit, so no "fraction of the gap": the multiplicative step per doubling says it all.
    out = {"factor_per_doubling": 2.0 ** p["b"]}
    out.update(_doubling_gains(lambda x: _power_predict(p, x), x_first, x_last))
    return out


POWER_FORM = Form(
    name=POWER,
    equation="y = c x^b",
    param_names=("c", "b"),
    x_domain="positive",
    log_space=True,
    nonlinear=None,
    basis=lambda x, _: np.column_stack([np.ones_like(x), np.log(x)]),
    from_coefs=lambda coef, _: {"c": float(np.exp(coef[0])), "b": float(coef[1])},
    predict=_power_predict,
    jacobian=lambda p, x: np.column_stack([np.full_like(x, 1.0 / p["c"]), np.log(x)]),
    derived=_power_derived,
)


# --- saturating power law: y = E + A x^-alpha ---------------------------------------------

def _satpow_predict(p: Params, x: np.ndarray) -> np.ndarray:
    return p["E"] + p["A"] * np.asarray(x, dtype=float) ** (-p["alpha"])


def _satpow_jacobian(p: Params, x: np.ndarray) -> np.ndarray:
    z = x ** (-p["alpha"])
    return np.column_stack([np.ones_like(x), z, -p["A"] * z * np.log(x)])


def _satpow_derived(p: Params, x_first: float, x_last: float, q: float) -> dict[str, float]:
    alpha = p["alpha"]
    out = _doubling_gains(lambda x: _satpow_predict(p, x), x_first, x_last)
    out["gap_closed_per_doubling"] = 1.0 - 2.0 ** (-alpha)
    # x at which a fraction q of the gap between y(x_first) and the limit E is closed.
    with np.errstate(over="ignore"):  # alpha -> 0 sends x_q to inf, which is the right answer
        out["x_q"] = x_first * np.exp(-np.log1p(-q) / alpha)
    return out


SATURATING_POWER_FORM = Form(
    name=SATURATING_POWER,
    equation="y = E + A x^-alpha",
    param_names=("E", "A", "alpha"),
    x_domain="positive",
    log_space=False,
    nonlinear="alpha",
    basis=lambda x, alpha: np.column_stack([np.ones_like(x), x ** (-alpha)]),
    from_coefs=lambda coef, alpha: {"E": float(coef[0]), "A": float(coef[1]), "alpha": float(alpha)},
    predict=_satpow_predict,
    jacobian=_satpow_jacobian,
    derived=_satpow_derived,
)


# --- log-linear: y = a + b ln x -----------------------------------------------------------

def _loglin_predict(p: Params, x: np.ndarray) -> np.ndarray:
    return p["a"] + p["b"] * np.log(np.asarray(x, dtype=float))


def _loglin_derived(p: Params, x_first: float, x_last: float, q: float) -> dict[str, float]:
    out = {"gain_per_doubling": p["b"] * np.log(2.0)}
    out.update(_doubling_gains(lambda x: _loglin_predict(p, x), x_first, x_last))
    return out


LOG_LINEAR_FORM = Form(
    name=LOG_LINEAR,
    equation="y = a + b ln x",
    param_names=("a", "b"),
    x_domain="positive",
    log_space=False,
    nonlinear=None,
    basis=lambda x, _: np.column_stack([np.ones_like(x), np.log(x)]),
    from_coefs=lambda coef, _: {"a": float(coef[0]), "b": float(coef[1])},
    predict=_loglin_predict,
    jacobian=lambda p, x: np.column_stack([np.ones_like(x), np.log(x)]),
    derived=_loglin_derived,
)


# --- exponential saturation: y = c - (c - y0) e^(-x/k) ------------------------------------

def _expsat_predict(p: Params, x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.asarray(x, dtype=float) / p["k"])
    return p["c"] - (p["c"] - p["y0"]) * e


def _expsat_jacobian(p: Params, x: np.ndarray) -> np.ndarray:
    e = np.exp(-x / p["k"])
    return np.column_stack([1.0 - e, e, -(p["c"] - p["y0"]) * e * x / p["k"] ** 2])


def _expsat_derived(p: Params, x_first: float, x_last: float, q: float) -> dict[str, float]:
    out = _doubling_gains(lambda x: _expsat_predict(p, x), x_first, x_last)
    # x at which a fraction q of the gap from y0 (at x = 0) to the limit c is closed.
    out["x_q"] = p["k"] * np.log(1.0 / (1.0 - q))
    return out


EXP_SATURATION_FORM = Form(
    name=EXP_SATURATION,
    equation="y = c - (c - y0) exp(-x/k)",
    param_names=("c", "y0", "k"),
    x_domain="nonnegative",
    log_space=False,
    nonlinear="k",
    basis=lambda x, k: np.column_stack([1.0 - np.exp(-x / k), np.exp(-x / k)]),
    from_coefs=lambda coef, k: {"c": float(coef[0]), "y0": float(coef[1]), "k": float(k)},
    predict=_expsat_predict,
    jacobian=_expsat_jacobian,
    derived=_expsat_derived,
)


# --- Gao et al. 2022: gold reward against d = sqrt(KL) ------------------------------------

def _gao_bon_predict(p: Params, d: np.ndarray) -> np.ndarray:
    d = np.asarray(d, dtype=float)
    return p["alpha"] * d - p["beta"] * d**2


def _gao_bon_derived(p: Params, x_first: float, x_last: float, q: float) -> dict[str, float]:
    alpha, beta = p["alpha"], p["beta"]
    if beta <= 0:  # no interior maximum: the curve keeps rising (or never rises)
        return {"d_star": np.inf, "kl_star": np.inf, "r_star": np.inf}
    d_star = alpha / (2.0 * beta)
    return {"d_star": d_star, "kl_star": d_star**2, "r_star": alpha**2 / (4.0 * beta)}


def _gao_rl_predict(p: Params, d: np.ndarray) -> np.ndarray:
    d = np.asarray(d, dtype=float)
    return p["alpha"] * d - p["beta"] * _xlogx(d)


def _gao_rl_derived(p: Params, x_first: float, x_last: float, q: float) -> dict[str, float]:
    alpha, beta = p["alpha"], p["beta"]
    if beta <= 0:
        return {k: np.inf for k in ("d_star", "kl_star", "r_star", "d_zero", "kl_zero")}
    with np.errstate(over="ignore"):  # tiny beta: the peak is out of reach, inf says so
        d_star = np.exp(alpha / beta - 1.0)
        d_zero = np.exp(alpha / beta)  # gold back to 0
    return {"d_star": d_star, "kl_star": d_star**2, "r_star": beta * d_star,
            "d_zero": d_zero, "kl_zero": d_zero**2}


GAO_BON_FORM = Form(
    name=GAO_BON,
    equation="R(d) = alpha d - beta d^2,  d = sqrt(KL)",
    param_names=("alpha", "beta"),
    x_domain="nonnegative",
    log_space=False,
    nonlinear=None,
    basis=lambda d, _: np.column_stack([d, -(d**2)]),
    from_coefs=lambda coef, _: {"alpha": float(coef[0]), "beta": float(coef[1])},
    predict=_gao_bon_predict,
    jacobian=lambda p, d: np.column_stack([d, -(d**2)]),
    derived=_gao_bon_derived,
    is_gao=True,
)

GAO_RL_FORM = Form(
    name=GAO_RL,
    equation="R(d) = alpha d - beta d ln d,  d = sqrt(KL)",
    param_names=("alpha", "beta"),
    x_domain="nonnegative",
    log_space=False,
    nonlinear=None,
    basis=lambda d, _: np.column_stack([d, -_xlogx(d)]),
    from_coefs=lambda coef, _: {"alpha": float(coef[0]), "beta": float(coef[1])},
    predict=_gao_rl_predict,
    jacobian=lambda p, d: np.column_stack([d, -_xlogx(d)]),
    derived=_gao_rl_derived,
    is_gao=True,
)


def bon_kl_bound(n) -> np.ndarray:
    """ln n - (n-1)/n: the analytic KL of best-of-n, an UPPER BOUND on the true KL.

    Label it so wherever it is used as x (Gao et al. 2022 plot against it); estimate the KL
    from samples when the difference matters.

    >>> bon_kl_bound([1, 16]).round(3)
    array([0.   , 1.835])
    """
    n = np.asarray(n, dtype=float)
    if (n < 1).any():
        raise ValueError(f"best-of-n needs n >= 1, got {n[n < 1].tolist()}")
    return np.log(n) - (n - 1.0) / n


FORMS: dict[str, Form] = {
    f.name: f
    for f in (POWER_FORM, SATURATING_POWER_FORM, LOG_LINEAR_FORM, EXP_SATURATION_FORM, GAO_BON_FORM, GAO_RL_FORM)
}


def get_form(name: str | Form) -> Form:
    """Look a form up by name.

    >>> get_form("log_linear").param_names
    ('a', 'b')
    """
    if isinstance(name, Form):
        return name
    try:
        return FORMS[name]
    except KeyError:
        raise ValueError(f"unknown form {name!r}; choose one of {sorted(FORMS)}") from None


# --- ScaleRL (Khatri et al. 2025): pass rate against RL compute ----------------------------
# R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B). Not in FORMS: its two nonlinear parameters
# (C_mid, B) need a two-dimensional search, which fit_curve's one-parameter variable projection
# does not do. It is fitted by rlhf_nb.analysis.scalerl.fit_scalerl, with the same practice
# (grid over the nonlinear parameters, linear coefficients in closed form, bounded refinement
# from several starts, flags).

SCALERL = "scalerl_sigmoid"


def scalerl_share(c, c_mid: float, b: float) -> np.ndarray:
    """s(C) = 1 / (1 + (C_mid / C)^B), the share of the gain A - R0 reached at compute C; 0 at C = 0.

    ``c``: compute, any shape, >= 0 (FLOPs or any unit shared with ``c_mid``). Computed as
    ``expit(B (ln C - ln C_mid))`` so that neither a tiny nor a huge ratio overflows.
    """
    c = np.asarray(c, dtype=float)
    out = np.zeros_like(c)
    pos = c > 0
    z = b * (np.log(c[pos]) - np.log(c_mid))
    out[pos] = 0.5 * (1.0 + np.tanh(0.5 * z))  # expit(z), stable at both ends
    return out


def _scalerl_predict(p: Params, c: np.ndarray) -> np.ndarray:
    return p["R0"] + (p["A"] - p["R0"]) * scalerl_share(c, p["C_mid"], p["B"])


def _scalerl_jacobian(p: Params, c: np.ndarray) -> np.ndarray:
    """d R / d (R0, A, C_mid, B), columns in that order; uses (C_mid/C)^B s^2 = s (1 - s)."""
    c = np.asarray(c, dtype=float)
    s = scalerl_share(c, p["C_mid"], p["B"])
    gain = p["A"] - p["R0"]
    log_ratio = np.zeros_like(c)
    pos = c > 0
    log_ratio[pos] = np.log(p["C_mid"]) - np.log(c[pos])
    ss = s * (1.0 - s)
    return np.column_stack([1.0 - s, s, -gain * ss * p["B"] / p["C_mid"], -gain * ss * log_ratio])


def _scalerl_derived(p: Params, x_first: float, x_last: float, q: float) -> dict[str, float]:
    """C_q, the compute at which a fraction q of the gain A - R0 is reached: C_mid (q / (1 - q))^(1/B);
    the share of the gain reached at the largest compute in the data; the gain over the doubling from C_mid."""
    c_mid, b = p["C_mid"], p["B"]
    share_last = float(scalerl_share(np.array([x_last]), c_mid, b)[0])
    doubling = float(scalerl_share(np.array([2.0 * c_mid]), c_mid, b)[0]) - 0.5
    return {"c_q": c_mid * (q / (1.0 - q)) ** (1.0 / b), "share_reached_at_x_last": share_last,
            "gain_doubling_at_c_mid": (p["A"] - p["R0"]) * doubling}


def _scalerl_basis(c: np.ndarray, theta) -> np.ndarray:
    """Design matrix [1 - s, s] at theta = (C_mid, B): its least-squares coefficients are (R0, A)."""
    c_mid, b = theta
    s = scalerl_share(c, c_mid, b)
    return np.column_stack([1.0 - s, s])


SCALERL_FORM = Form(
    name=SCALERL,
    equation="R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B)",
    param_names=("R0", "A", "C_mid", "B"),
    x_domain="nonnegative",
    log_space=False,
    nonlinear="C_mid,B",
    basis=_scalerl_basis,
    from_coefs=lambda coef, theta: {"R0": float(coef[0]), "A": float(coef[1]), "C_mid": float(theta[0]),
                                    "B": float(theta[1])},
    predict=_scalerl_predict,
    jacobian=_scalerl_jacobian,
    derived=_scalerl_derived,
)
"""The ScaleRL sigmoid (Khatri et al. 2025, "The Art of Scaling Reinforcement Learning Compute for LLMs",
eq. 1): A the asymptotic pass rate, B the efficiency exponent, C_mid the compute at half the gain, R0 the
pass rate before RL. Fitted by :func:`rlhf_nb.analysis.scalerl.fit_scalerl`."""
