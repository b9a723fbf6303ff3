"""The first check to run on a lent GPU: the GPU-only tests (a missing GPU fails them), then one
short fit on each data placement with compile off and on, under CUDA's sync debug mode, printing
for each what ran (device, placement, layout, precision, compiled or not, compile time) and how
many host synchronisations CUDA reported while it trained; then cnn_v2's training step in full
float32 (32-true) NCHW against channels-last, which decides whether `speed.channels_last=auto`
should lay out 32-true runs too (it does not today: measure on each GPU kind, V100 first).

On the GPU machine (its image lacks Hydra: scripts/gpu_wheels.sh fetches the wheels here first):
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 &&
    python3 scripts/gpu_check.py
About 3 minutes on an H100; exits non-zero when a test or a fit fails.
"""

import os
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
GPU_TESTS = ["tests/test_placement.py", "tests/test_speed.py", "tests/test_tasks.py",
             "tests/test_gpu_sharing.py"]


def run_tests() -> int:
    os.environ["FIDLE_REQUIRE_GPU"] = "1"
    return int(pytest.main(["-q", "-p", "no:cacheprovider", *(str(REPO / t) for t in GPU_TESTS)]))


def channels_last_float32_ratio(steps: int = 50) -> tuple[float, float]:
    """ms per training step of cnn_v2 on 48x48 RGB, batch 256, full float32 with TF32 off:
    NCHW, channels-last (measured alternately, median of 5 rounds each)."""
    import statistics
    import time

    from fidle_runs.models.cnn import cnn_v2

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    x = torch.rand(256, 3, 48, 48, device="cuda")
    y = torch.randint(0, 43, (256,), device="cuda")
    times: dict[bool, list[float]] = {False: [], True: []}
    nets = {last: cnn_v2((3, 48, 48)).cuda() for last in (False, True)}
    nets[True].to(memory_format=torch.channels_last)
    for _ in range(5):
        for last, net in nets.items():
            optimizer = torch.optim.Adam(net.parameters())
            inputs = x.contiguous(memory_format=torch.channels_last) if last else x
            for step in range(steps + 5):
                if step == 5:
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                loss = torch.nn.functional.cross_entropy(net(inputs), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            torch.cuda.synchronize()
            times[last].append(1000 * (time.perf_counter() - start) / steps)
    return statistics.median(times[False]), statistics.median(times[True])


def fit(data_on: str, compile_setting: bool, root: Path) -> tuple[dict, int, bool]:
    """One 2-epoch run of gtsrb_cnn on GPU; (its speed block, CUDA's sync warnings during fit,
    whether its network ran compiled)."""
    from hydra import compose, initialize_config_dir

    from fidle_runs.config.conf import CONF_DIR
    from fidle_runs.launch.resolvers import register_resolvers
    from fidle_runs.run.train import train

    register_resolvers()
    name = f"{data_on}-compile{int(compile_setting)}"
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[
            "+experiment=gtsrb_cnn", "trainer=gpu", "data.source=synthetic",
            "trainer.max_epochs=2", f"speed.data_on={data_on}",
            f"speed.compile={str(compile_setting).lower()}", f"paths.output_root={root}",
            f"paths.data_dir={root / 'data'}", f"paths.run_dir={root / name}"])
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = train(cfg)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    compiled = bool(result.speed.get("compiled"))
    if result.status != "completed":
        raise SystemExit(f"gpu_check: the {name} fit ended {result.status}: {result.error}")
    return result.speed, syncs, compiled


def main() -> int:
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here: run it on a lent GPU machine")
    failed = run_tests()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'data':7} {'compile':8} {'ran compiled':13} {'syncs':>6}  speed block")
        for data_on in ("device", "host"):
            for compile_setting in (False, True):
                speed, syncs, compiled = fit(data_on, compile_setting, Path(tmp))
                print(f"{data_on:7} {compile_setting!s:8} {compiled!s:13} {syncs:6d}  {speed}",
                      flush=True)
    nchw, last = channels_last_float32_ratio()
    print(f"{torch.cuda.get_device_name()}: cnn_v2 32-true step {nchw:.2f} ms NCHW, {last:.2f} ms "
          f"channels-last (ratio {last / nchw:.3f}; < 1 would argue for channels-last in "
          "32-true too)")
    return failed


if __name__ == "__main__":
    sys.exit(main())
