#!/usr/bin/env bash
# Install what is needed (first time only), then run the test suite. Extra arguments go to pytest.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
exec python -m pytest -q "$@"
