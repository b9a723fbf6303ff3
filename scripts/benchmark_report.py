"""Time to report N runs: generates N run directories as a finished gtsrb_full sweep over seeds
leaves them (result.json with its seed and seed group, TensorBoard events of 16 epochs, the test
predictions of GTSRB's 12,630 test images x 43 classes; the winner with its best checkpoint and
a test set of GTSRB's size), then times reading and ranking (the seed groups' statistics and
paired comparisons included), the text and exports, and the HTML page twice: first with the
winner's checkpoint evaluated on the test set, then from its cache. `--no-predictions` leaves
the predictions out, as runs made before they were saved.

    python scripts/benchmark_report.py [--runs 1000] [--no-predictions]
"""

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from fidle_runs.models.cnn import cnn_v1
from fidle_runs.report.html_page import render_html
from fidle_runs.report.report import build_report
from fidle_runs.store.predictions import SavedPredictions, predictions_path, write_predictions
from fidle_runs.store.result import RunResult

DATASETS = [f"set-{s}x{s}-{m}" for s in (24, 48) for m in ("RGB", "RGB-HE", "L", "L-LHE")]
MODELS = ["cnn_v1", "cnn_v2", "cnn_v3"]
N_TEST = 12630  # GTSRB's test set
CLASSIFICATION = {"task": "classification",
                  "primary": {"name": "test_acc", "mode": "max", "fraction": True},
                  "monitor": {"name": "val_acc", "mode": "max"}}


def make_runs(root: Path, n: int, predictions: bool) -> None:
    grid = itertools.cycle(itertools.product(DATASETS, MODELS))
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 43, N_TEST)
    noise = rng.normal(size=(N_TEST, 43)).astype(np.float32)
    for i, (dataset, model) in zip(range(n), grid, strict=False):
        run_dir = root / f"sweep-{i // 24}" / str(i % 24)
        acc = 0.999 if i % 24 == 0 else 0.9 + (i % 97) / 1000
        if predictions:
            outputs = noise.copy()
            right = rng.random(N_TEST) < acc
            outputs[np.flatnonzero(right), targets[right]] += 10.0
            write_predictions(run_dir, "test", SavedPredictions(outputs, targets))
            acc = float((outputs.argmax(axis=1) == targets).mean())
        data = {"name": dataset, "family": "gtsrb", "source": "real", "scale": 1.0,
                "val_on_test": False, "n_train": 35288, "n_outputs": 43}
        checkpoints = {"best": None, "last": None}
        if i % 24 == 0:  # the winner's seeds: cnn_v1 on set-24x24-RGB
            checkpoints["best"], data["file"] = make_winner(run_dir, root.parent)
            data["shape"] = [3, 24, 24]
        RunResult(status="completed", task=CLASSIFICATION["task"], model=model,
                  primary={**CLASSIFICATION["primary"], "value": acc},
                  monitor={**CLASSIFICATION["monitor"], "best": acc}, data=data,
                  metrics={"test_acc": acc}, epochs=16, max_epochs=16,
                  duration_s={"fit": 60.0 + i % 50, "test": 2.0}, params=1_297_899,
                  checkpoints=checkpoints, seed=i // 24,
                  group=f"{dataset}-{model}").write(run_dir)
        writer = SummaryWriter(str(run_dir / "tensorboard"))
        for epoch in range(16):
            step = 550 * epoch + 549
            for tag, value in (("epoch", epoch), ("train_loss", 1 / (epoch + 1)),
                               ("val_loss", 1.1 / (epoch + 1)),
                               ("train_acc", 1 - 0.1 / (epoch + 1)),
                               ("val_acc", acc - 0.1 / (epoch + 1))):
                writer.add_scalar(tag, value, step)
        writer.close()


def make_winner(run_dir: Path, sets_dir: Path) -> tuple[str, str]:
    """A cnn_v1 checkpoint, its config (the set as data.h5_file) and a test set of GTSRB's size
    (made once): (checkpoint, test set)."""
    torch.manual_seed(0)
    net = cnn_v1((3, 24, 24))
    checkpoint = run_dir / "checkpoints" / "best.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, checkpoint)
    test_set = (sets_dir / "set-24x24-RGB.h5").resolve()
    (run_dir / "config.yaml").write_text(json.dumps({  # JSON is YAML
        "model": {"name": "cnn_v1", "net": {"_target_": "fidle_runs.models.cnn.cnn_v1",
                                            "_partial_": True}},
        "data": {"_target_": "fidle_runs.data.gtsrb.datamodule.GTSRBDataModule",
                 "h5_file": str(test_set)},
        "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True}}))
    if test_set.is_file():  # one test set for every seed
        return str(checkpoint), str(test_set)
    rng = np.random.default_rng(0)
    with h5py.File(test_set, "w") as f:
        f["x_train"], f["y_train"] = np.zeros((1, 24, 24, 3), np.uint8), np.zeros(1, np.int64)
        f["x_test"] = rng.integers(0, 256, (N_TEST, 24, 24, 3), dtype=np.uint8)
        f["y_test"] = rng.integers(0, 43, N_TEST)
        f["x_meta"] = rng.integers(0, 256, (43, 24, 24, 3), dtype=np.uint8)
        f["y_meta"] = np.arange(43)
    return str(checkpoint), str(test_set)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--no-predictions", dest="predictions", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fidle-report-bench-") as tmp:
        root = Path(tmp)
        make_runs(root / "outputs", args.runs, args.predictions)
        first_run = root / "outputs" / "sweep-0" / "0"
        disk = (predictions_path(first_run, "test").stat().st_size / 2**20
                if args.predictions else 0.0)
        start = time.perf_counter()
        report = build_report([root / "outputs"])
        built = time.perf_counter()
        report.text()
        report.write(root / "report")
        written = time.perf_counter()
        _, first = render_html(report, [root / "outputs"])
        html_first = time.perf_counter()
        _, second = render_html(report, [root / "outputs"])
        html_second = time.perf_counter()
    n = len(report.rows)
    groups = sum(len(m.cells) for m in report.matrices)
    print(f"{n} runs in {groups} seed groups, "
          + (f"each with its test predictions ({disk:.2f} MiB on disk)" if args.predictions
             else "without test predictions"))
    print(f"{n} runs: found, read and ranked in {built - start:.2f} s "
          f"({1000 * (built - start) / n:.1f} ms per run); text and exports in "
          f"{written - built:.2f} s")
    print(f"HTML, first: {html_first - written:.1f} s (learning curves of {first.curves_read} "
          f"runs in {first.curves_s:.1f} s; {first.analyses[0]})")
    print(f"HTML, again: {html_second - html_first:.1f} s ({second.analyses[0]}); "
          f"first / again = {(html_first - written) / (html_second - html_first):.1f}x")


if __name__ == "__main__":
    main()
