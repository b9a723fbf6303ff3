"""The MNIST family end to end on the real MNIST and Fashion-MNIST (fetched by
scripts/fetch_test_data.sh): its datamodule, FIDLE's experiments, and the clear errors."""

import pytest
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.run.assemble import build_datamodule
from fidle_runs.run.train import train
from tests.conftest import compose_train
from tests.real_data import real_data_dir


def test_real_mnist_is_served_like_every_family(tmp_path):
    cfg = compose_train(["+experiment=mnist_dnn", f"data.raw_dir={real_data_dir('mnist')}",
                         "data.scale=0.1", f"paths.run_dir={tmp_path}"])
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    assert datamodule.dims == {"in_shape": (1, 28, 28), "n_outputs": 10}
    info = datamodule.describe()
    assert (info["name"], info["family"], info["source"]) == ("mnist", "mnist", "real")
    assert (info["n_train"] + info["n_val"], info["n_val"], info["n_test"]) == (6000, 600, 1000)
    assert info["val_split"] == "random images" and "IDX files" in info["origin"]
    x, _ = datamodule.tensors["train"]
    assert x.dtype == torch.uint8
    batch = datamodule.network_input(x[:4])
    assert batch.dtype == torch.float32 and batch.min() >= 0 and batch.max() <= 1
    assert datamodule.class_names == [str(d) for d in range(10)]
    assert datamodule.class_pictures().shape == (10, 28, 28, 1)


@pytest.mark.parametrize(("experiment", "data", "params", "at_least"), [
    ("mnist_dnn", "mnist", 89_610, 0.85),
    ("mnist_cnn", "fashion_mnist", 42_358, 0.60),
])
def test_fidle_experiments_train_on_real_data(small_run_dir, experiment, data, params, at_least):
    cfg = compose_train([f"+experiment={experiment}", f"data={data}",
                         f"data.raw_dir={real_data_dir(data)}", "data.scale=0.2",
                         "trainer.max_epochs=2", "callbacks.progress.style=lines",
                         *small_run_dir])
    result = train(cfg)
    assert result.status == "completed" and result.epochs == 2 and result.params == params
    assert result.task == "classification" and result.data["family"] == "mnist"
    assert result.data["name"] == data and result.data["n_test"] == 2000
    assert result.primary["name"] == "test_acc" and result.primary["value"] > at_least


@pytest.fixture
def small_run_dir(tmp_path) -> list[str]:
    return [f"paths.output_root={tmp_path}", f"paths.run_dir={tmp_path / 'run'}"]


@pytest.mark.parametrize(("override", "message"), [
    ("data.source=synthetic", "data.source='synthetic' is invalid: it must be one of auto, "
                              "real (mnist has no synthetic set)"),
    ("task=regression", "data mnist has classification targets, which task=regression cannot "
                        "learn: choose task=classification (the experiments of this data do)"),
])
def test_what_mnist_cannot_do_is_one_clear_line(tmp_path, override, message):
    cfg = compose_train(["+experiment=mnist_dnn", override, f"paths.run_dir={tmp_path}"])
    with pytest.raises(UserError) as failure:
        build_datamodule(cfg)
    assert str(failure.value) == message
