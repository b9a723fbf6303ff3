#!/usr/bin/env bash
# The wheels a lent GPU machine lacks for scripts/benchmark_gpu.py (its image has torch,
# pytorch-lightning, torchmetrics, h5py, tensorboard, joblib; not Hydra and its launchers), into
# .whl/ (git-ignored through .git/info/exclude), for Python 3.12 there. Then, on the device:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#       --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 &&
#   python3 scripts/benchmark_gpu.py --grid shared
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .git/info .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    -d .whl hydra-core==1.3.8 omegaconf==2.3.1 hydra-joblib-launcher==1.2.0 \
    hydra-submitit-launcher==1.2.0 submitit==1.5.4
# Published as a source archive only: built here (pure Python).
python3 -m pip wheel -q --no-deps antlr4-python3-runtime==4.9.3 -w .whl
ls .whl
