#!/usr/bin/env bash
# Install what is needed (first time only), then run the main job. Extra arguments go to `rlhf-nb`.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
if [ "$#" -eq 0 ]; then set -- study --preset default; fi
exec rlhf-nb "$@"
