"""`model.init_from=<run>`: a run that starts from the best weights of an earlier run of the
user's, on real MNIST then Fashion-MNIST (the same classes count: every tensor copied) and on
synthetic GTSRB in grey 28x28 (43 classes: the head kept as initialised); every source that
cannot be used is one line, and nothing is trained.

The runs that check which weights a run started from train with a learning rate too small to
move any weight (1e-30, added to weights of order 1e-2, is below float32's resolution): their
best checkpoint holds the weights they started from."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.models.cnn import mnist_cnn
from fidle_runs.run.init_from import init_from
from fidle_runs.run.train import train
from fidle_runs.store.result import read_result
from tests.conftest import compose_train, run_module
from tests.real_data import real_data_dir

FROZEN = "optimizer.lr=1e-30"  # what the run trained is what it started from
HEAD = ["5.weight", "5.bias"]  # mnist_cnn's last Linear


def mnist_cnn_run(run_dir: Path, *overrides: str) -> list[str]:
    """`+experiment=mnist_cnn` shrunk to a few seconds, in `run_dir`."""
    return ["+experiment=mnist_cnn", "trainer.max_epochs=1", "data.batch_size=128",
            "callbacks.progress.style=lines", f"paths.output_root={run_dir.parent}",
            f"paths.run_dir={run_dir}", *overrides]


def on(data: str) -> list[str]:
    return [f"data={data}", f"data.raw_dir={real_data_dir(data)}", "data.scale=0.03"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A completed mnist_cnn run on 3 % of real MNIST, 1 epoch."""
    run_dir = tmp_path_factory.mktemp("source") / "run"
    result = train(compose_train(mnist_cnn_run(run_dir, *on("mnist"))))
    assert result.status == "completed", result.error
    return run_dir


def best_state(run_dir: Path) -> dict[str, torch.Tensor]:
    """The network's tensors in the run's best checkpoint, by their names in the network."""
    best = run_dir / read_result(run_dir).checkpoints["best"]
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    return {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}


def test_a_run_on_data_of_the_same_classes_starts_from_every_tensor_of_the_source(
        source, tmp_path):
    run_dir = tmp_path / "fashion"
    result = train(compose_train(mnist_cnn_run(run_dir, *on("fashion_mnist"), FROZEN,
                                               f"model.init_from={source}")))
    assert result.status == "completed", result.error
    started, expected = best_state(run_dir), best_state(source)
    assert started.keys() == expected.keys() and len(expected) == 8
    assert all(torch.allclose(started[k], expected[k], rtol=0, atol=1e-20) for k in expected)
    recorded = read_result(source).checkpoints["best"]
    assert result.init_from == {
        "run": str(source.resolve()), "checkpoint": recorded,
        "sha256": _sha256(source / recorded), "copied": 8, "kept_initialised": []}
    assert json.loads((run_dir / "result.json").read_text())["init_from"] == result.init_from


def test_other_classes_keep_their_head_as_initialised_and_take_the_rest(
        source, tmp_path, shared_data_dir):
    run_dir = tmp_path / "gtsrb"
    result = train(compose_train(mnist_cnn_run(
        run_dir, "data=gtsrb", "data.source=synthetic", "data.synthetic_fraction=0.02",
        "data.size=28", "data.mode=L", "data.prepare_workers=2",
        f"paths.data_dir={shared_data_dir}", FROZEN, f"model.init_from={source}")))
    assert result.status == "completed", result.error
    assert result.data["shape"] == [1, 28, 28] and result.data["n_outputs"] == 43
    assert (result.init_from["copied"], result.init_from["kept_initialised"]) == (6, HEAD)
    started, expected = best_state(run_dir), best_state(source)
    assert all(torch.allclose(started[k], expected[k], rtol=0, atol=1e-20)
               for k in expected if k not in HEAD)
    assert started["5.weight"].shape == (43, 100)
    torch.manual_seed(0)
    net = mnist_cnn((1, 28, 28), 43)
    initialised = {k: v.clone() for k, v in net.state_dict().items()}
    init_from(str(source), net, [1, 28, 28])
    assert all(torch.equal(net.state_dict()[k], initialised[k]) for k in HEAD)


def copy_of(source: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    return copy


def _not_completed(run: Path) -> None:
    data = json.loads((run / "result.json").read_text())
    data.update(status="interrupted", error="Ctrl-C: run the same command again to resume")
    (run / "result.json").write_text(json.dumps(data))


def _best_file(run: Path) -> Path:
    return run / read_result(run).checkpoints["best"]


# What each spoils in a copy of the source run, the data of the new run (default
# Fashion-MNIST), and the line that refuses it (`*`: torch's reason, whatever its words).
BAD_SOURCES = {
    "another input shape": (
        lambda run: None, ["data=gtsrb", "data.source=synthetic", "data.synthetic_fraction=0.02",
                           "data.size=24", "data.mode=L", "data.prepare_workers=2"],
        "that run took samples of shape (1, 28, 28), this data has (1, 24, 24); start from a "
        "run on data of this shape (the same image size and channels)"),
    "no result.json": (
        lambda run: (run / "result.json").unlink(), [],
        "no readable result.json there, so it is no run folder; give the folder a run wrote "
        "its result.json in"),
    "not completed": (
        _not_completed, [],
        "that run is interrupted, not completed (Ctrl-C: run the same command again to "
        "resume); complete it (its command launched again resumes it) or start from another "
        "run"),
    "no best checkpoint": (
        lambda run: _best_file(run).unlink(), [],
        "that run has no best checkpoint ({best}); start from a run trained with the "
        "checkpoint callback, its checkpoints/ folder intact"),
    "a checkpoint that does not load": (
        lambda run: _best_file(run).write_bytes(b"not a checkpoint"), [],
        "{best} is torn or is not a checkpoint (*); restore the file from a copy or start from "
        "another run"),
}


@pytest.mark.parametrize("case", BAD_SOURCES)
def test_a_source_that_cannot_be_used_is_one_line_and_nothing_is_trained(
        source, tmp_path, shared_data_dir, case):
    spoil, data, message = BAD_SOURCES[case]
    run = copy_of(source, tmp_path)
    best = _best_file(run)
    spoil(run)
    run_dir = tmp_path / "new"
    cfg = compose_train(mnist_cnn_run(run_dir, *(data or on("fashion_mnist")),
                                      f"paths.data_dir={shared_data_dir}",
                                      f"model.init_from={run}"))
    with pytest.raises(UserError) as refused:
        train(cfg)
    expected = f"model.init_from={run}: " + message.format(best=best)
    assert re.fullmatch(".*".join(map(re.escape, expected.split("*"))), str(refused.value))
    assert not run_dir.exists()  # refused before anything is written (run.preflight)


def test_the_command_refuses_a_folder_that_is_not_there_in_one_line(tmp_path):
    proc = run_module("fidle_runs", *mnist_cnn_run(tmp_path / "run", *on("fashion_mnist")),
                      "model.init_from=outputs/runs/nowhere", cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        "fidle_runs: error: model.init_from=outputs/runs/nowhere: no such folder; give the "
        "folder of one of your runs (outputs/runs/<run>), relative to where the command is "
        "launched"), proc.stderr[-2000:]
    assert not list(tmp_path.glob("run/*.*")) or [p.name for p in (tmp_path / "run").iterdir()] \
        == ["fidle_runs.log"]  # at most Hydra's log: no config, no result


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
