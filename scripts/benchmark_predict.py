"""Prediction throughput: 1,000 real MNIST test images as PNG files predicted by a trained run,
in one `python -m fidle_runs.predict` call (batched), beside the same network called once per
image, and what a call costs before its first image (start-up, rebuilding the run); then the
run's ONNX export (`python -m fidle_runs.export`) under ONNX Runtime on the same images, beside
PyTorch, and what exporting costs.

    .venv/bin/python scripts/benchmark_predict.py --mnist-dir ~/.cache/fidle_runs/test-data/mnist
        [--run outputs/runs/<an MNIST run>] [--images 1000] [--repeats 3] [--device cpu]

Without --run it trains mnist_cnn for one epoch on a fifth of MNIST (its weights do not change
the timings). Prints medians of --repeats: images/s of the whole command, of reading the files,
of the network batched and image by image, and their ratio; of the ONNX export batched, and its
ratio to PyTorch's.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fidle_runs.data.inputs import InputRequest  # noqa: E402
from fidle_runs.export.formats import FORMATS  # noqa: E402
from fidle_runs.predict.network import BATCH, device_for  # noqa: E402
from fidle_runs.run.rebuild import load_run  # noqa: E402
from fidle_runs.tasks.base import task_outputs  # noqa: E402


def command(args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark_predict: {' '.join(args[:3])} ... failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def median_of(repeats: int, work) -> float:
    return statistics.median(work() for _ in range(repeats))


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", type=Path, required=True, help="MNIST's IDX files")
    parser.add_argument("--run", type=Path, default=None, help="a trained MNIST run")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run
        if run_dir is None:
            run_dir = Path(tmp) / "run"
            command(["fidle_runs", "+experiment=mnist_cnn", f"data.raw_dir={args.mnist_dir}",
                     "data.scale=0.2", "trainer.max_epochs=1", "callbacks.progress.style=lines",
                     f"hydra.run.dir={run_dir}"])
        _, run = load_run(run_dir, load_data=True)
        images = run.datamodule.tensors["test"][0][:args.images]
        paths = []
        for i, image in enumerate(images[:, 0].numpy()):
            paths.append(Path(tmp) / f"{i:05d}.png")
            Image.fromarray(image).save(paths[-1])
        n = len(paths)
        predict = ["fidle_runs.predict", str(run_dir), "--json", "--device", args.device]
        one_call = median_of(args.repeats, lambda: command([*predict, *map(str, paths)]))
        first = median_of(args.repeats, lambda: command([*predict, str(paths[0])]))

        _, run = load_run(run_dir, load_data=False)
        request = InputRequest(paths)
        read = median_of(args.repeats, lambda: timed(lambda: run.datamodule.read_inputs(request)))
        x = run.datamodule.read_inputs(request).x
        device = device_for(args.device)
        batched = median_of(args.repeats, lambda: timed(
            lambda: task_outputs(run.task, run.datamodule, x, device, BATCH)))
        single = median_of(args.repeats, lambda: timed(
            lambda: [task_outputs(run.task, run.datamodule, x[i:i + 1], device, BATCH)
                     for i in range(n)]))

        onnx_file = Path(tmp) / "model.onnx"
        export = median_of(args.repeats, lambda: command(
            ["fidle_runs.export", str(run_dir), "--out", str(onnx_file), "--force"]))
        session = FORMATS["onnx"].load(onnx_file)
        onnx_batched = median_of(args.repeats, lambda: timed(
            lambda: [session(part) for part in x.split(BATCH)]))

    print(f"{n} MNIST PNG files, {run.cfg.model.name}, {args.device}, medians of {args.repeats}")
    print(f"  one predict call, {n} images:      {one_call:6.2f} s  {n / one_call:8.0f} images/s")
    print(f"  one predict call, 1 image:         {first:6.2f} s  (start-up and rebuilding the run)")
    print(f"  the {n} images beyond that:       {one_call - first:6.2f} s  "
          f"{n / max(one_call - first, 1e-9):8.0f} images/s")
    print(f"  reading and decoding the files:    {read:6.3f} s  {n / read:8.0f} images/s")
    print(f"  network, batches of 256:           {batched:6.3f} s  {n / batched:8.0f} images/s")
    print(f"  network, one image per call:       {single:6.3f} s  {n / single:8.0f} images/s")
    print(f"  batched / one by one:              {single / batched:6.1f} x faster")
    print(f"  export to ONNX (one command):      {export:6.2f} s")
    print(f"  ONNX Runtime, batches of 256:      {onnx_batched:6.3f} s  "
          f"{n / onnx_batched:8.0f} images/s")
    print(f"  ONNX Runtime / PyTorch, batched:   {batched / onnx_batched:6.2f} x the speed")


if __name__ == "__main__":
    main()
