"""A generated tree of run directories for the report tests: completed runs on real and
synthetic data, failed, running, unreadable ones, with real TensorBoard events, and a winner
with a checkpoint, a config and a test set whose predictions are known."""

from pathlib import Path

import h5py
import numpy as np
import torch

from fidle_runs.models.cnn import cnn_v2
from fidle_runs.result import RunResult

REAL_ACC = {("set-24x24-L", "cnn_v1"): 0.95, ("set-24x24-L", "cnn_v2"): 0.97,
            ("set-48x48-RGB", "cnn_v1"): 0.96, ("set-48x48-RGB", "cnn_v2"): 0.985}
N_TEST, N_WRONG = 60, 15  # the winner's test set: its checkpoint gets 45 of 60 right
WINNER_CONFIG = """model:
  name: cnn_v2
  net:
    _target_: fidle_runs.models.cnn.cnn_v2
    _partial_: true
"""


def write_run(run_dir: Path, status: str, dataset: str, model: str, source: str = "real",
              test_acc: float | None = None, epochs: int = 16, **fields) -> None:
    """result.json plus TensorBoard events of `epochs` epochs, logged as Lightning logs them."""
    from torch.utils.tensorboard import SummaryWriter

    RunResult(status=status, model=model,
              data={"name": dataset, "source": source, "file_mib": 1.5, "n_train": 35288,
                    **fields.pop("data", {})},
              metrics={"test_acc": test_acc, "test_loss": None, "best_val_acc": test_acc},
              epochs=epochs, max_epochs=16, duration_s={"fit": 40.0, "test": 2.0},
              params=1_297_899, **fields).write(run_dir)
    writer = SummaryWriter(str(run_dir / "tensorboard"))
    for epoch in range(epochs):
        step = 10 * epoch + 9
        writer.add_scalar("epoch", epoch, step)
        writer.add_scalar("train_loss", 2.0 / (epoch + 1), step)
        writer.add_scalar("val_loss", 2.2 / (epoch + 1), step)
        writer.add_scalar("train_acc", 1 - 0.5 / (epoch + 1), step)
        writer.add_scalar("val_acc", 1 - 0.6 / (epoch + 1), step)
    writer.close()


def write_tree(root: Path) -> Path:
    """The tree under `root`/outputs; returns that outputs folder."""
    sweep = root / "outputs" / "sweeps" / "grid"
    for n, ((dataset, model), acc) in enumerate(REAL_ACC.items()):
        if (dataset, model) != ("set-48x48-RGB", "cnn_v2"):
            write_run(sweep / str(n), "completed", dataset, model, test_acc=acc)
    write_winner(sweep / "3", root / "sets" / "set-48x48-RGB.h5")
    write_run(sweep / "10", "failed", "set-24x24-L", "cnn_v3", epochs=2,
              error="ValueError: boom")
    write_run(sweep / "11", "running", "set-48x48-RGB", "cnn_v3", epochs=5)
    (sweep / "12").mkdir()
    (sweep / "12" / "result.json").write_text("{not json")
    (sweep / "13").mkdir()
    (sweep / "13" / "fidle_runs.log").write_text("died before training")
    (sweep / ".submitit").mkdir()
    (sweep / ".submitit" / "result.json").write_text("{}")  # never a run
    single = root / "outputs" / "runs" / "one"
    write_run(single, "completed", "set-24x24-L", "cnn_v1", source="synthetic", test_acc=0.99,
              checkpoints={"best": str(single / "checkpoints" / "gone.ckpt"), "last": None})
    return root / "outputs"


def write_winner(run_dir: Path, test_set: Path) -> np.ndarray:
    """cnn_v2 on set-48x48-RGB: a seeded network, and a test set labelled with its own
    predictions except for the last N_WRONG images, labelled prediction + 1. Returns the
    network's predictions."""
    torch.manual_seed(0)
    net = cnn_v2((3, 48, 48)).eval()
    rng = np.random.default_rng(0)
    x_test = rng.integers(0, 256, (N_TEST, 48, 48, 3), dtype=np.uint8)
    with torch.inference_mode():
        predicted = net(torch.from_numpy(x_test.transpose(0, 3, 1, 2)).float() / 255)
    predicted = predicted.argmax(1).numpy()
    y_test = predicted.copy()
    y_test[-N_WRONG:] = (predicted[-N_WRONG:] + 1) % 43
    test_set.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(test_set, "w") as f:
        f["x_train"], f["y_train"] = x_test[:2], y_test[:2]
        f["x_test"], f["y_test"] = x_test, y_test
        f["x_meta"] = rng.integers(0, 256, (43, 48, 48, 3), dtype=np.uint8)
        f["y_meta"] = np.arange(43)
    best = run_dir / "checkpoints" / "best-epoch015-val_acc0.9800.ckpt"
    write_run(run_dir, "completed", "set-48x48-RGB", "cnn_v2",
              test_acc=REAL_ACC[("set-48x48-RGB", "cnn_v2")],
              data={"file": str(test_set)}, checkpoints={"best": str(best), "last": None})
    best.parent.mkdir()
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, best)
    (run_dir / "config.yaml").write_text(WINNER_CONFIG)
    return predicted
