#!/bin/bash
# Submit a sweep as a Slurm job array, one task per run, at most $FIDLE_ARRAY_PARALLELISM
# (default 32) running at once. Arguments are the overrides of `python -m fidle_runs -m ...`;
# sbatch options come from SBATCH_* variables (SBATCH_ACCOUNT, SBATCH_PARTITION, SBATCH_QOS...):
#   SBATCH_ACCOUNT=$IDRPROJ@v100 slurm/submit_array.sh +experiment=gtsrb_full
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${FIDLE_PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
count=$("$python" -m fidle_runs.sweep_plan --count "$@")
sbatch --parsable --array="0-$((count - 1))%${FIDLE_ARRAY_PARALLELISM:-32}" \
    "$here/array.sbatch" "$@"
