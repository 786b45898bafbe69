"""The ``rlhf-nb`` command: run notebooks through papermill, a whole study, or its report.

    rlhf-nb study --preset {smoke,default,full} [--workers N] [--name NAME] [--executor {local,ray}]
                  [--ray-address auto] [--ray-gpus-per-task G] [-p NAME VALUE ...]
    rlhf-nb report [--name NAME]              rebuild a study's report from its files, no training
    rlhf-nb pipeline [-p NAME VALUE ...]      one pipeline notebook with its defaults or overrides
    rlhf-nb axis NAME [-p NAME VALUE ...]     one axis notebook (rm_data, ..., direct_alignment) the same way

Bad input (a refused parameter, a missing file, a knob that does not fit, memory a knob can
lower) is reported as one line naming the problem and its fix, with the executed notebook's
path when a notebook ran, and exit code 2; any other failure keeps its traceback (exit 1).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .notebooks import execute_notebook, notebook_path, parse_parameter_overrides

REFUSALS = ("ValueError", "FileNotFoundError", "MemoryError", "OutOfMemoryError", "UnparseableAnswer")
"""exception names that mean bad input or a knob to lower: reported in one line, exit code 2"""


class Refusal(Exception):
    """A notebook refused its input: one line to show, and the executed notebook's path."""


def _run_notebook(name: str, output: Path, params: dict) -> Path:
    """Execute a notebook; a refusal inside it becomes :class:`Refusal` (one line), anything else propagates."""
    from papermill.exceptions import PapermillExecutionError

    try:
        return execute_notebook(name, output, params)
    except PapermillExecutionError as err:
        if err.ename in REFUSALS:
            message = " ".join(str(err.evalue).split())  # one line
            raise Refusal(f"{err.ename}: {message} (executed notebook: {output})") from None
        raise


def _pipeline(args: argparse.Namespace) -> int:
    params = parse_parameter_overrides(args.parameter, notebook_path("pipeline"))
    out = Path(args.output_dir) / "pipeline"
    params.setdefault("store_dir", str(Path(args.output_dir) / "store"))  # the store lives under --output-dir too
    executed = _run_notebook("pipeline", out / "pipeline.ipynb", params)
    print(f"executed notebook: {executed}")
    return 0


def _axis(args: argparse.Namespace) -> int:
    from .study.presets import FULL_AXES

    if args.name not in FULL_AXES:
        raise ValueError(f"no axis notebook {args.name!r}: give one of {', '.join(FULL_AXES)} "
                         "(`rlhf-nb pipeline` runs the pipeline notebook)")
    params = parse_parameter_overrides(args.parameter, notebook_path(args.name))
    params.setdefault("store_dir", str(Path(args.output_dir) / "store"))  # shared with `rlhf-nb pipeline`
    params.setdefault("results_dir", str(Path(args.output_dir) / "results"))
    executed = _run_notebook(args.name, Path(args.output_dir) / "axes" / f"{args.name}.ipynb", params)
    print(f"executed notebook: {executed}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from .study.whole_study import run_study

    report, summary = run_study(args.preset, Path(args.output_dir), args.name, args.workers,
                                executor=args.executor, ray_address=args.ray_address,
                                ray_gpus_per_task=args.ray_gpus_per_task, parameters=args.parameter)
    wall = summary.seconds.get("__wall__", 0.0)
    print(f"ran {len(summary.ran)} notebook(s), reused {len(summary.skipped)}, failed {len(summary.failed)} "
          f"in {wall:.0f} s")
    for label in summary.failed.values():
        print(f"  FAILED {label}")
    print(f"report: {report}")
    return 1 if summary.failed else 0


def _report(args: argparse.Namespace) -> int:
    from .study.report import build_report

    root = Path(args.output_dir) / "studies" / args.name
    if not root.exists():
        raise FileNotFoundError(f"no study named {args.name!r} under {root.parent}; run `rlhf-nb study` first")
    print(f"report: {build_report(root, title=f'RLHF scaling study ({args.name})')}")
    return 0


def _parameter_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``-p NAME VALUE``, repeatable: notebook parameters, typed later by what the notebook declares."""
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlhf-nb", description="Measure how RLHF scales, notebook by notebook.")
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("study", help="run every axis notebook for every seed, resumably, then build the report")
    st.add_argument("--preset", default="default", choices=["smoke", "default", "full"],
                    help="smoke: minutes (CI); default: every axis, 3 seeds, ~30 min on 2 cores; full: 5 seeds")
    st.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    st.add_argument("--name", default=None, help="study folder name under <output-dir>/studies (default: the preset)")
    st.add_argument("--output-dir", default="outputs", help="where the run store and studies live")
    st.add_argument("--executor", default="local", choices=["local", "ray"],
                    help="local: worker processes here (default); ray: Ray tasks (output dir on a shared filesystem)")
    st.add_argument("--ray-address", default=None,
                    help="Ray cluster to join, e.g. 'auto' (the running cluster) or 'ray://head:10001'; "
                         "default: RAY_ADDRESS, else a Ray instance on this machine")
    st.add_argument("--ray-gpus-per-task", type=float, default=0.0,
                    help="GPUs Ray reserves for each notebook execution (e.g. 1, or 0.5 to share a GPU)")
    _parameter_option(st, "a parameter given to every axis notebook, e.g. -p task data/gsm8k.jsonl -p policy "
                          "/models/qwen (give the study its own --name)")
    st.set_defaults(func=_study)
    rp = sub.add_parser("report", help="rebuild a study's report from existing results (no training)")
    rp.add_argument("--name", default="default", help="study folder name under <output-dir>/studies")
    rp.add_argument("--output-dir", default="outputs")
    rp.set_defaults(func=_report)
    p = sub.add_parser("pipeline", help="run notebooks/pipeline.ipynb (one SFT -> RM -> RL -> eval pipeline)")
    _parameter_option(p, "override a notebook parameter (see papermill --help-notebook notebooks/pipeline.ipynb)")
    p.add_argument("--output-dir", default="outputs",
                   help="where the executed notebook (<dir>/pipeline/) and the run store (<dir>/store, unless "
                        "-p store_dir names another) go")
    p.set_defaults(func=_pipeline)
    a = sub.add_parser("axis", help="run one axis notebook (notebooks/<name>.ipynb) for its seeds, then its findings")
    a.add_argument("name", help="the axis: rm_data, rm_size, orm_vs_prm, best_of_n, samples_per_prompt, policy_size, "
                                "rm_size_for_rl, rl_length_kl, method or direct_alignment")
    _parameter_option(a, "override a notebook parameter, e.g. -p seeds 0 -p policy /models/my-model")
    a.add_argument("--output-dir", default="outputs",
                   help="where the executed notebook (<dir>/axes/), the run store (<dir>/store) and the tables, "
                        "findings and figures (<dir>/results) go, unless -p store_dir / -p results_dir name others")
    a.set_defaults(func=_axis)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Refusal as err:
        print(f"rlhf-nb: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, RuntimeError, MemoryError) as err:
        print(f"rlhf-nb: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlhf-nb: interrupted; every finished execution and run is kept: run the same command again to "
              "resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
