"""A generated tree of run directories for the report tests: completed classifications on GTSRB
(real, synthetic, a share of synthetic) and on the MNIST family, regressions ranked by a metric
to minimize, a real forecasting run, failed, running and unreadable runs, with real TensorBoard
events; one run written
as schema 1 (before tasks); a GTSRB winner with a checkpoint, a config and a test set whose
predictions are known. Also a small image family (ToyImages) for analyses of other datasets."""

import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from fidle_runs.data.in_memory import InMemoryDataModule, Splits
from fidle_runs.data.tensor_batches import network_input
from fidle_runs.models.cnn import cnn_v2
from fidle_runs.models.dense import mnist_dnn
from fidle_runs.store.result import RunResult

REAL_ACC = {("set-24x24-L", "cnn_v1"): 0.95, ("set-24x24-L", "cnn_v2"): 0.97,
            ("set-48x48-RGB", "cnn_v1"): 0.96, ("set-48x48-RGB", "cnn_v2"): 0.985}
MNIST_ACC = {("mnist", "mnist_dnn"): 0.975, ("mnist", "mnist_cnn"): 0.99,
             ("fashion_mnist", "mnist_dnn"): 0.88, ("fashion_mnist", "mnist_cnn"): 0.91}
# Diabetes' MAE (lower is better) beside the real run (write_table_run's bhpd_dnn, about 49):
# bhpd_dnn ran twice, its cell keeps the real run's.
DIABETES_MAE = [("bhpd_dnn", 58.0), ("mlp", 61.0)]
N_TEST, N_WRONG = 60, 15  # the winner's test set: its checkpoint gets 45 of 60 right
CLASSIFICATION = {"task": "classification",
                  "primary": {"name": "test_acc", "mode": "max", "fraction": True},
                  "monitor": {"name": "val_acc", "mode": "max"}}
REGRESSION = {"task": "regression",
              "primary": {"name": "test_mae", "mode": "min", "fraction": False},
              "monitor": {"name": "val_mae", "mode": "min"}}
OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.001}


def write_run(run_dir: Path, status: str, dataset: str, model: str, source: str = "real",
              value: float | None = None, epochs: int = 16, task: dict = CLASSIFICATION,
              family: str = "gtsrb", **fields: Any) -> None:
    """A schema-2 result.json plus TensorBoard events of `epochs` epochs, logged as Lightning
    logs them (the task's monitored metric and the loss); `value` is the primary metric's."""
    measure = task["monitor"]["name"].removeprefix("val_")
    RunResult(status=status, model=model, task=task["task"],
              primary={**task["primary"], "value": value},
              monitor={**task["monitor"], "best": value},
              data={"name": dataset, "family": family, "source": source, "scale": 1.0,
                    "val_on_test": True, "file_mib": 1.5, "n_train": 35288,
                    **fields.pop("data", {})},
              metrics={task["primary"]["name"]: value, "test_loss": None},
              epochs=epochs, max_epochs=16, duration_s={"fit": 40.0, "test": 2.0},
              params=1_297_899, **fields).write(run_dir)
    write_events(run_dir, epochs, measure)


def write_schema_1_run(run_dir: Path, dataset: str, model: str, test_acc: float) -> None:
    """A completed run as fidle_runs wrote it before tasks (result.json schema 1)."""
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text(json.dumps({
        "schema": 1, "status": "completed", "error": None, "run_dir": str(run_dir),
        "model": model, "metrics": {"test_acc": test_acc, "test_loss": 0.2,
                                    "best_val_acc": test_acc},
        "epochs": 16, "max_epochs": 16, "duration_s": {"fit": 40.0, "test": 2.0},
        "params": 1_297_899, "data": {"name": dataset, "source": "real", "file_mib": 1.5,
                                      "n_train": 35288},
        "checkpoints": {"best": None, "last": None}, "started": "2026-01-01T00:00:00+00:00",
        "updated": "2026-01-01T01:00:00+00:00"}))
    write_events(run_dir, 16, "acc")


def write_events(run_dir: Path, epochs: int, measure: str) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tensorboard"))
    for epoch in range(epochs):
        step = 10 * epoch + 9
        writer.add_scalar("epoch", epoch, step)
        writer.add_scalar("train_loss", 2.0 / (epoch + 1), step)
        writer.add_scalar("val_loss", 2.2 / (epoch + 1), step)
        writer.add_scalar(f"train_{measure}", 1 - 0.5 / (epoch + 1), step)
        writer.add_scalar(f"val_{measure}", 1 - 0.6 / (epoch + 1), step)
    writer.close()


def write_tree(root: Path, forecast_run: Path, table_run: Path) -> Path:
    """The tree under `root`/outputs, with copies of `forecast_run` and `table_run`
    (write_forecast_run's and write_table_run's, trained once per session); returns that outputs
    folder."""
    sweep = root / "outputs" / "sweeps" / "grid"
    for n, ((dataset, model), acc) in enumerate(REAL_ACC.items()):
        if n == 0:
            write_schema_1_run(sweep / str(n), dataset, model, acc)
        elif (dataset, model) != ("set-48x48-RGB", "cnn_v2"):
            write_run(sweep / str(n), "completed", dataset, model, value=acc)
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
    runs = root / "outputs" / "runs"
    write_run(runs / "one", "completed", "set-24x24-L", "cnn_v1", source="synthetic",
              value=0.99, checkpoints={"best": str(runs / "one" / "checkpoints" / "gone.ckpt"),
                                       "last": None})
    write_run(runs / "tenth", "completed", "set-24x24-L", "cnn_v2", source="synthetic",
              value=0.21, data={"scale": 0.1})
    mnist = root / "outputs" / "sweeps" / "mnist"
    for n, ((dataset, model), acc) in enumerate(MNIST_ACC.items()):
        write_run(mnist / str(n), "completed", dataset, model, value=acc, family="mnist",
                  data={"val_on_test": False, "shape": [1, 28, 28], "n_outputs": 10})
    diabetes = root / "outputs" / "sweeps" / "diabetes"
    for n, (model, mae) in enumerate(DIABETES_MAE):
        write_run(diabetes / str(n), "completed", "diabetes", model, value=mae,
                  task=REGRESSION, family="tables", data={"shape": [10]})
    shutil.copytree(table_run, diabetes / "real")
    shutil.copytree(forecast_run, root / "outputs" / "runs" / "ladybug")
    return root / "outputs"


def write_forecast_run(run_dir: Path, data_dir: Path) -> Path:
    """A real forecasting run, trained as `python -m fidle_runs +experiment=ladybug_gru
    model=gru model.net.hidden=16 data.scale=0.1 trainer.max_epochs=2` trains it (in this
    process, a few seconds): the report's forecast matrix and its best run's analysis."""
    from fidle_runs.run.train import train
    from tests.conftest import compose_train

    result = train(compose_train([
        "+experiment=ladybug_gru", "model=gru", "model.net.hidden=16", "data.scale=0.1",
        "trainer.max_epochs=2", "callbacks.progress.style=lines", f"paths.data_dir={data_dir}",
        f"paths.run_dir={run_dir}"]))
    assert result.status == "completed", result.error
    return run_dir


def write_table_run(run_dir: Path) -> Path:
    """A real regression run on a table, trained as `python -m fidle_runs +experiment=diabetes_dnn
    trainer.max_epochs=10` trains it (in this process, a few seconds): the report's regression
    matrix's winner and its analysis."""
    from fidle_runs.run.train import train
    from tests.conftest import compose_train

    result = train(compose_train(["+experiment=diabetes_dnn", "trainer.max_epochs=10",
                                  "callbacks.progress.style=lines", f"paths.run_dir={run_dir}"]))
    assert result.status == "completed", result.error
    assert result.primary["value"] < min(mae for _, mae in DIABETES_MAE), "it wins its matrix"
    return run_dir


def write_winner(run_dir: Path, test_set: Path) -> np.ndarray:
    """cnn_v2 on set-48x48-RGB: a seeded network, and a test set labelled with its own
    predictions except for the last N_WRONG images, labelled prediction + 1; a config.yaml
    from before tasks (no task group: a classification). Returns the network's predictions."""
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
              value=REAL_ACC[("set-48x48-RGB", "cnn_v2")],
              data={"file": str(test_set.resolve()), "shape": [3, 48, 48], "n_outputs": 43},
              checkpoints={"best": str(best), "last": None})
    write_checkpoint(best, net)
    write_config(run_dir, "cnn_v2", "fidle_runs.models.cnn.cnn_v2", {
        "_target_": "fidle_runs.data.gtsrb.datamodule.GTSRBDataModule",
        "h5_file": str(test_set.resolve())})
    return predicted


def write_checkpoint(path: Path, net: torch.nn.Module) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)


def write_config(run_dir: Path, model: str, net: str, data: dict[str, Any]) -> None:
    """config.yaml as a run saves it (JSON is YAML), with what the report rebuilds."""
    (run_dir / "config.yaml").write_text(json.dumps({
        "model": {"name": model, "net": {"_target_": net, "_partial_": True}},
        "data": data, "optimizer": OPTIMIZER}))


class ToyImages(InMemoryDataModule):
    """A test family: grey 8x8 images and labels from an .npz file, with class names and
    (optionally) pictures, for classifiers of any number of outputs (1: binary)."""

    family = "toy"
    task = "classification"

    def __init__(self, file: str, n_outputs: int, class_names: list[str],
                 **options: Any) -> None:
        super().__init__(**options)
        self.file, self.outputs, self.names = Path(file), n_outputs, list(class_names)

    @property
    def name(self) -> str:
        return "toy"

    def load(self) -> Splits:
        with np.load(self.file) as f:
            return Splits(*(torch.from_numpy(f[k]) for k in ("x", "y", "x", "y")))

    @property
    def n_outputs(self) -> int:
        return self.outputs

    @property
    def class_names(self) -> list[str]:
        return self.names

    def class_pictures(self) -> np.ndarray | None:
        with np.load(self.file) as f:
            return f.get("pictures")

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        return network_input(x)

    @property
    def data_file(self) -> Path:
        return self.file


def write_toy_run(run_dir: Path, class_names: list[str], n_wrong: int,
                  pictures: bool = False) -> np.ndarray:
    """A completed mnist_dnn classification of ToyImages (binary for two class names): a seeded
    network, test labels its own predictions except the last `n_wrong` (the next class).
    Returns the network's predictions."""
    n_outputs = 1 if len(class_names) == 2 else len(class_names)
    torch.manual_seed(0)
    net = mnist_dnn((1, 8, 8), n_outputs).eval()
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (40, 1, 8, 8), dtype=np.uint8)
    with torch.inference_mode():
        outputs = net(network_input(torch.from_numpy(x)))
    predicted = ((outputs[:, 0] > 0).long() if n_outputs == 1 else outputs.argmax(1)).numpy()
    y = predicted.copy()
    y[len(y) - n_wrong:] = (predicted[len(y) - n_wrong:] + 1) % len(class_names)
    run_dir.mkdir(parents=True)
    arrays = {"x": x, "y": y}
    if pictures:
        arrays["pictures"] = rng.integers(0, 256, (len(class_names), 8, 8, 1), dtype=np.uint8)
    np.savez(run_dir / "toy.npz", **arrays)
    best = run_dir / "checkpoints" / "best.ckpt"
    write_checkpoint(best, net)
    write_config(run_dir, "mnist_dnn", "fidle_runs.models.dense.mnist_dnn", {
        "_target_": "tests.report_tree.ToyImages", "file": str(run_dir / "toy.npz"),
        "n_outputs": n_outputs, "class_names": class_names, "val_on_test": True})
    write_run(run_dir, "completed", "toy", "mnist_dnn", value=1 - n_wrong / len(y), family="toy",
              data={"file": str(run_dir / "toy.npz"), "shape": [1, 8, 8],
                    "n_outputs": n_outputs}, checkpoints={"best": str(best), "last": None})
    return predicted
