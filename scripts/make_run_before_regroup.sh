#!/usr/bin/env bash
# Regenerate tests/fixtures/run_before_regroup/: a completed run made by fidle_runs as it was
# before its top level was regrouped into packages (the pinned commit below, or the one given),
# which tests/test_moved_code.py resumes, skips, evaluates, predicts, exports and reports with the
# code as it is now. Keeps the run's config.yaml, result.json, checkpoints/, csv/ and tensorboard/.
#   bash scripts/make_run_before_regroup.sh [COMMIT]
set -euo pipefail
pinned=${1:-46ece4c0cf66f7219279247749f55c9b45c8d129}
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add --detach "$work/tree" "$pinned" >/dev/null
(cd "$work/tree" && PYTHONPATH="$work/tree" "$python" -m fidle_runs +experiment=diabetes_dnn \
    trainer.max_epochs=2 seed=0 callbacks.progress.style=lines "hydra.run.dir=$work/run")
out=$repo/tests/fixtures/run_before_regroup
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
cp -r "$work/run/config.yaml" "$work/run/result.json" "$work/run/checkpoints" "$work/run/csv" "$work/run/tensorboard" "$out.tmp/"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "wrote $out from $pinned"
