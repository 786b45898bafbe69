"""The ``rlhf-nb`` command: run notebooks through papermill, a whole study, or its report.

    rlhf-nb pipeline [-p NAME VALUE ...]     one pipeline notebook with its defaults or overrides
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .notebooks import execute_notebook, notebook_path, parse_parameter_overrides


def _pipeline(args: argparse.Namespace) -> int:
    params = parse_parameter_overrides(args.parameter, notebook_path("pipeline"))
    out = Path(args.output_dir) / "pipeline"
    executed = execute_notebook("pipeline", out / "pipeline.ipynb", params)
    print(f"executed notebook: {executed}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlhf-nb", description="Measure how RLHF scales, notebook by notebook.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pipeline", help="run notebooks/pipeline.ipynb (one SFT -> RM -> RL -> eval pipeline)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a notebook parameter (see papermill --help-notebook notebooks/pipeline.ipynb)")
    p.add_argument("--output-dir", default="outputs", help="where executed notebooks and the run store go")
    p.set_defaults(func=_pipeline)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"rlhf-nb: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
