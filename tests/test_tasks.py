"""Each task module learns what it is for, through the shared in-memory datamodule, on small
data generated here: a binary and a multi-class classification, a regression, a forecast."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from fidle_runs.data.in_memory import InMemoryDataModule, Splits
from fidle_runs.models.dense import mlp
from fidle_runs.tasks.classification import Classification
from fidle_runs.tasks.forecasting import Forecasting
from fidle_runs.tasks.regression import Regression


class Toy(InMemoryDataModule):
    """Samples x and targets y given as arrays, split 80/20 into train and test."""

    family = "toy"

    def __init__(self, x: np.ndarray, y: np.ndarray, task: str, n_outputs: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.x, self.y, self.task, self.outputs = x, y, task, n_outputs

    @property
    def name(self) -> str:
        return "toy"

    @property
    def n_outputs(self) -> int:
        return self.outputs

    def load(self) -> Splits:
        n = int(len(self.x) * 0.8)
        x, y = torch.from_numpy(self.x).float(), torch.from_numpy(self.y)
        return Splits(x[:n], y[:n], x[n:], y[n:])


def fit_and_test(module: pl.LightningModule, data: Toy, epochs: int) -> dict[str, float]:
    """As a run does: the baselines fitted on the training samples, then fit and test."""
    pl.seed_everything(0)
    data.setup("fit")
    module.fit_baselines(*data.tensors["train"], data.network_input)
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", deterministic=True)
    trainer.fit(module, datamodule=data)
    return {k: float(v) for k, v in trainer.test(module, datamodule=data, verbose=False)[0].items()}


def adam(params):
    return torch.optim.Adam(params, lr=0.01)


def test_binary_classification_has_one_output_and_learns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    data = Toy(x, y, "classification", 1, batch_size=50)
    module = Classification(mlp((2,), 1, widths=[8]), adam, n_outputs=1)
    tested = fit_and_test(module, data, 10)
    assert set(tested) == {"test_acc", "test_loss", "test_acc_majority"}
    assert tested["test_acc"] > 0.95
    majority = np.bincount(data.tensors["train"][1].numpy()).argmax()
    assert module.majority == majority
    assert tested["test_acc_majority"] == pytest.approx(np.mean(y[800:] == majority))
    probabilities = module.probabilities(torch.zeros(3, 1))
    assert probabilities.shape == (3, 2) and torch.allclose(probabilities, torch.full((3, 2), .5))


def test_multiclass_classification_learns():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 4], [4, 0], [-4, 0]])
    y = rng.integers(0, 3, 900)
    x = centres[y] + rng.normal(size=(900, 2))
    data = Toy(x, y, "classification", 3, batch_size=50)
    tested = fit_and_test(Classification(mlp((2,), 3, widths=[8]), adam, n_outputs=3), data, 10)
    assert tested["test_acc"] > 0.95
    majority = np.bincount(data.tensors["train"][1].numpy()).argmax()
    assert tested["test_acc_majority"] == pytest.approx(np.mean(y[720:] == majority))


def test_regression_learns_a_linear_law_beside_its_baselines():
    """On a linear law plus noise of known size: least squares finds the law (its test MAE is
    the noise's, sqrt(2/pi) x 0.1), the train mean scores the spread of y, and the network gets
    near least squares."""
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=(1000, 3))
    noise = rng.normal(0, 0.1, size=1000)
    y = (x @ np.array([2.0, -1.0, 0.5]) + 1.0 + noise).astype(np.float32)
    data = Toy(x, y, "regression", 1, batch_size=50)
    tested = fit_and_test(Regression(nn.Linear(3, 1), adam, n_outputs=1), data, 30)
    assert set(tested) == {f"test_{m}{b}" for m in ("mae", "mse", "r2")
                           for b in ("", "_mean", "_least_squares")} | {"test_loss"}
    assert tested["test_mse"] == pytest.approx(tested["test_loss"], rel=1e-4)
    assert tested["test_mae_least_squares"] == pytest.approx(np.abs(noise[800:]).mean(), rel=0.05)
    assert tested["test_mae_least_squares"] == pytest.approx(0.1 * np.sqrt(2 / np.pi), rel=0.1)
    fit_y = data.tensors["train"][1].numpy()
    assert tested["test_mae_mean"] == pytest.approx(np.abs(y[800:] - fit_y.mean()).mean(),
                                                    rel=1e-5)
    assert abs(tested["test_r2_mean"]) < 0.02 and tested["test_r2_least_squares"] > 0.99
    assert tested["test_mae"] < 0.1 and tested["test_r2"] > 0.99


def test_forecasting_predicts_the_next_steps_of_a_series():
    """Windows of 8 steps of a 2-feature series -> the next 2 steps of both features."""
    t = np.arange(3000) * 0.1
    series = np.stack([np.sin(t), np.cos(0.5 * t)], axis=1).astype(np.float32)
    windows = np.stack([series[i:i + 8] for i in range(len(series) - 10)])
    targets = np.stack([series[i + 8:i + 10] for i in range(len(series) - 10)])
    data = Toy(windows, targets, "forecasting", 4, batch_size=64)
    module = Forecasting(mlp((8, 2), 4, widths=[32]), adam, n_outputs=4)
    tested = fit_and_test(module, data, 15)
    assert tested["test_mae"] < 0.05


@pytest.mark.parametrize("task", ["classification", "binary", "regression", "forecasting"])
def test_a_training_step_reads_nothing_back_from_the_device(task, monkeypatch):
    """On a GPU a value read back (`bool()`, `.item()`) or a tensor built from a Python number
    on the device is a host synchronisation: none may happen in a step or a metric's update.
    Counted here on the CPU by patching those entry points."""
    torch.manual_seed(0)
    x = torch.randn(16, 4)
    if task == "regression":
        module, y = Regression(nn.Linear(4, 1), adam, 1), x[:, :1]
    elif task == "forecasting":  # windows of 3 steps of 4 features -> the next step
        module = Forecasting(nn.Sequential(nn.Flatten(), nn.Linear(12, 4)), adam, 4,
                             target_names=list("abcd"), target_std=[1.0, 2.0, 3.0, 4.0],
                             persistence_columns=[0, 1, 2, 3], iterable=True, steps_ahead=3)
        x, y = torch.randn(16, 3, 4), torch.randn(16, 1, 4)
    elif task == "binary":
        module, y = Classification(nn.Linear(4, 1), adam, 1), (x[:, 0] > 0).long()
    else:
        module, y = Classification(nn.Linear(4, 3), adam, 3), torch.randint(0, 3, (16,))
    monkeypatch.setattr(pl.LightningModule, "log", lambda *args, **kwargs: None)
    syncs: list[str] = []
    for name in ("__bool__", "item", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            syncs.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    as_tensor = torch.as_tensor

    def counted_as_tensor(data, *args, **kwargs):
        if not isinstance(data, torch.Tensor):
            syncs.append("as_tensor")
        return as_tensor(data, *args, **kwargs)

    monkeypatch.setattr(torch, "as_tensor", counted_as_tensor)
    module.training_step((x, y), 0)
    assert syncs == []
    monkeypatch.undo()
    assert all(v == v for v in module.epoch_values("train").values()), "the updates counted"
