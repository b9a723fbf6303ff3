"""Time to report N runs: generates N run directories (result.json and an event file each, as
a finished gtsrb_full sweep leaves them), then times finding, reading, ranking and writing.

    python scripts/benchmark_report.py [--runs 500]
"""

import argparse
import itertools
import tempfile
import time
from pathlib import Path

from fidle_runs.report.report import build_report
from fidle_runs.result import RunResult

DATASETS = [f"set-{s}x{s}-{m}" for s in (24, 48) for m in ("RGB", "RGB-HE", "L", "L-LHE")]
MODELS = ["cnn_v1", "cnn_v2", "cnn_v3"]


def make_runs(root: Path, n: int) -> None:
    grid = itertools.cycle(itertools.product(DATASETS, MODELS))
    for i, (dataset, model) in zip(range(n), grid, strict=False):
        run_dir = root / f"sweep-{i // 24}" / str(i % 24)
        RunResult(status="completed", model=model, data={"name": dataset, "source": "real"},
                  metrics={"test_acc": 0.9 + (i % 97) / 1000, "best_val_acc": 0.9},
                  epochs=16, max_epochs=16, params=1_297_899).write(run_dir)
        (run_dir / "tensorboard").mkdir()
        (run_dir / "tensorboard" / "events.out.tfevents.0.host.0.0").write_bytes(b"")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fidle-report-bench-") as tmp:
        root = Path(tmp)
        make_runs(root / "outputs", args.runs)
        start = time.perf_counter()
        report = build_report([root / "outputs"])
        built = time.perf_counter()
        report.text()
        report.write(root / "report")
        done = time.perf_counter()
    print(f"{len(report.rows)} runs: found, read and ranked in {built - start:.2f}s, rendered and "
          f"written in {done - built:.2f}s, total {done - start:.2f}s "
          f"({1000 * (done - start) / len(report.rows):.1f} ms per run)")


if __name__ == "__main__":
    main()
