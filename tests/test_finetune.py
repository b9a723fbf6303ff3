"""A pretrained network's fine-tuning schedule (model.finetune, fidle_runs.callbacks.finetune):
the head's and the backbone's parameter groups from the first step, at their own learning rates,
which schedulers scale alike; the backbone frozen bit for bit (BatchNorm statistics too, unless
train_bn) for the first epochs, then trained; runs stopped in either phase resume to the weights
of an uninterrupted run; a two-task data-parallel run (gloo, local Slurm) trains through the
unfreeze; a schedule that never unfreezes is one line, with nothing written."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import open_dict
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fidle_runs.callbacks.finetune import FinetuneSchedule
from fidle_runs.callbacks.stop_on_requeue import StopOnRequeueSignal
from fidle_runs.config.conf import build, check_config
from fidle_runs.core.errors import UserError
from fidle_runs.models.pretrained.input_adapter import InputAdapter
from fidle_runs.models.pretrained.network import PretrainedNet
from fidle_runs.run.assemble import build_task_module
from fidle_runs.run.train import train
from fidle_runs.store.result import read_result
from tests.conftest import REPO, compose_train, run_module
from tests.test_pretrained import write_weights
from tests.test_slurm import _sbatch, _squeue, _wait_until, slurm_cluster  # noqa: F401

LR, MULT = 0.01, 0.1


def tiny_net() -> PretrainedNet:
    """A pretrained network in miniature: convolution, BatchNorm, head `fc` (3 classes)."""
    backbone = nn.Sequential()
    backbone.add_module("conv", nn.Conv2d(3, 4, 3))
    backbone.add_module("bn", nn.BatchNorm2d(4))
    backbone.add_module("relu", nn.ReLU())
    backbone.add_module("pool", nn.AdaptiveAvgPool2d(1))
    backbone.add_module("flat", nn.Flatten())
    backbone.add_module("fc", nn.Linear(4, 3))
    adapter = InputAdapter(3, None, [0.5] * 3, [0.25] * 3)
    return PretrainedNet(adapter, backbone, "fc", {})


def backbone_state(net: PretrainedNet) -> dict[str, torch.Tensor]:
    """The backbone's weights and BatchNorm statistics (the head left out), copied."""
    return {k: v.clone() for k, v in net.backbone.state_dict().items() if not k.startswith("fc.")}


def head_state(net: PretrainedNet) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.backbone.fc.state_dict().items()}


def equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def module_for(net: nn.Module, *overrides: str) -> Any:
    """The classification module of `model=pretrained` around `net`, as a run assembles it
    (the experiment's Adam or the optimizer named, at LR; model.finetune's schedule)."""
    cfg = compose_train(["+experiment=gtsrb_cnn", "model=pretrained", *overrides,
                         f"optimizer.lr={LR}", f"model.finetune.backbone_lr_mult={MULT}"])
    check_config(cfg)
    data = SimpleNamespace(tensors={}, task_arguments=dict)
    return build_task_module(cfg, net, data, n_outputs=3)


class Watch(pl.Callback):
    """What training did: the optimizer's groups (name, lr) at the first step and at each
    epoch's end, the backbone and head after each epoch, whether the BatchNorm layer was in
    training mode at each batch, and the optimizer state each parameter had after each epoch."""

    def __init__(self) -> None:
        self.first_groups: list[tuple[str, float]] = []
        self.groups: list[list[tuple[str, float]]] = []
        self.backbones: list[dict[str, torch.Tensor]] = []
        self.heads: list[dict[str, torch.Tensor]] = []
        self.bn_training: list[tuple[int, bool]] = []
        self.with_state: list[int] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, *args: Any) -> None:
        self.bn_training.append((trainer.current_epoch, pl_module.net.backbone.bn.training))
        if not self.first_groups:
            self.first_groups = [(g["name"], g["lr"]) for g in trainer.optimizers[0].param_groups]

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self.groups.append([(g["name"], g["lr"]) for g in trainer.optimizers[0].param_groups])
        self.backbones.append(backbone_state(pl_module.net))
        self.heads.append(head_state(pl_module.net))
        self.with_state.append(len(trainer.optimizers[0].state))


def fit(module: Any, epochs: int) -> Watch:
    """Fit `module` on 48 random images of 3 classes (batches of 16), `epochs` epochs, on the
    CPU; what training did."""
    torch.manual_seed(0)
    x, y = torch.rand(48, 3, 8, 8), torch.randint(0, 3, (48,))
    watch = Watch()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[watch])
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    return watch


@pytest.mark.parametrize("scheduler", ["cosine", "plateau"])
def test_both_groups_exist_from_the_first_step_and_the_scheduler_scales_both(scheduler):
    net = tiny_net()
    module = module_for(net, f"scheduler={scheduler}", "model.finetune.freeze_epochs=1",
                        "trainer.max_epochs=3")
    watch = fit(module, 3)
    assert watch.first_groups == [("head", LR), ("backbone", pytest.approx(LR * MULT))]
    for groups in watch.groups:
        (head, head_lr), (backbone, backbone_lr) = groups
        assert (head, backbone) == ("head", "backbone")
        assert backbone_lr == pytest.approx(head_lr * MULT), "scaled alike"
    if scheduler == "cosine":
        assert watch.groups[-1][0][1] < LR
    groups = net.parameter_groups()
    assert [id(p) for p in groups["head"]] == [id(p) for p in net.backbone.fc.parameters()]
    assert {id(p) for p in groups["head"] + groups["backbone"]} == {id(p) for p in
                                                                    net.parameters()}
    assert len(groups["head"]) + len(groups["backbone"]) == len(list(net.parameters()))


# Optimizers whose weight decay (and SGD's momentum) would move a parameter without gradient.
@pytest.mark.parametrize(("train_bn", "optimizer"), [(False, "adamw"), (True, "sgd")])
def test_the_backbone_stays_as_loaded_while_frozen_then_trains(train_bn, optimizer):
    net = tiny_net()
    loaded = backbone_state(net)
    head = head_state(net)
    module = module_for(net, f"optimizer={optimizer}", "model.finetune.freeze_epochs=2",
                        f"model.finetune.train_bn={str(train_bn).lower()}",
                        "trainer.max_epochs=3")
    watch = fit(module, 3)
    weights = [k for k in loaded if k.startswith("conv.") or k in ("bn.weight", "bn.bias")]
    for epoch in (0, 1):  # frozen
        assert all(torch.equal(watch.backbones[epoch][k], loaded[k]) for k in weights), epoch
        assert not equal(watch.heads[epoch], head if epoch == 0 else watch.heads[0])
        assert watch.with_state[epoch] == len(list(net.backbone.fc.parameters())), \
            "the backbone has no optimizer state (moments, weight decay) while frozen"
    statistics = ("bn.running_mean", "bn.running_var", "bn.num_batches_tracked")
    kept = [torch.equal(watch.backbones[1][k], loaded[k]) for k in statistics]
    assert kept == [not train_bn] * 3
    assert all(not torch.equal(watch.backbones[2][k], loaded[k]) for k in weights)
    assert not equal(watch.heads[2], watch.heads[1])
    assert watch.with_state[2] == len(list(net.parameters()))
    in_training = {(epoch, training) for epoch, training in watch.bn_training}
    assert in_training == ({(0, True), (1, True), (2, True)} if train_bn else
                           {(0, False), (1, False), (2, True)})


def test_the_record_says_the_phases_and_each_groups_rate():
    net = tiny_net()
    module = module_for(net, "model.finetune.freeze_epochs=2", "trainer.max_epochs=5")
    schedule = module.group_schedule
    assert isinstance(schedule, FinetuneSchedule)
    head = sum(p.numel() for p in net.backbone.fc.parameters())
    every = sum(p.numel() for p in net.parameters())
    assert schedule.record == {
        "freeze_epochs": 2, "backbone_lr_mult": MULT, "train_bn": False,
        "phases": [{"epochs": [1, 2], "trainable": head}, {"epochs": [3, 5], "trainable": every}],
        "groups": {"head": LR, "backbone": pytest.approx(LR * MULT)}}
    unfrozen = module_for(tiny_net(), "trainer.max_epochs=5").group_schedule.record
    assert unfrozen["phases"] == [{"epochs": [1, 5], "trainable": every}]


def test_a_network_without_groups_keeps_one_group():
    cfg = compose_train(["+experiment=gtsrb_cnn"])
    net = build(cfg.model.net, "model.net")(in_shape=(1, 24, 24), n_outputs=43)
    module = build_task_module(cfg, net, SimpleNamespace(tensors={}, task_arguments=dict), 43)
    optimizer = module.configure_optimizers()
    assert module.group_schedule is None and module.configure_callbacks() == []
    [group] = optimizer.param_groups
    assert "name" not in group and group["lr"] == cfg.optimizer.lr
    assert [id(p) for p in group["params"]] == [id(p) for p in module.parameters()]
    with open_dict(cfg):
        cfg.model.finetune = {"freeze_epochs": 1, "backbone_lr_mult": 0.1, "train_bn": False}
    with pytest.raises(UserError, match=r"^model.finetune: model=cnn_v1 has no pretrained "):
        build_task_module(cfg, net, SimpleNamespace(tensors={}, task_arguments=dict), 43)


@pytest.mark.parametrize(("override", "line"), [
    ("model.finetune.freeze_epochs=3", "model.finetune.freeze_epochs=3 is not below "
     "trainer.max_epochs=3: the backbone would never be fine-tuned; give fewer freeze epochs or "
     "trainer.max_epochs=4 or more"),
    ("model.finetune.freeze_epochs=-1", "model.finetune.freeze_epochs=-1 is invalid: it must be "
     "an integer >= 0 (the first epochs, in which the backbone is frozen)"),
    ("model.finetune.freeze_epochs=1.5", "model.finetune.freeze_epochs=1.5 is invalid"),
    ("model.finetune.backbone_lr_mult=0", "model.finetune.backbone_lr_mult=0 is invalid: it "
     "must be > 0"),
    ("model.finetune.train_bn=maybe", "model.finetune.train_bn='maybe' is invalid"),
])
def test_a_schedule_that_cannot_run_is_refused_in_one_line(override, line):
    cfg = compose_train(["+experiment=gtsrb_cnn", "model=pretrained", "trainer.max_epochs=3",
                         override])
    with pytest.raises(UserError) as refused:
        check_config(cfg)
    assert str(refused.value).startswith(line)


def test_the_command_line_refuses_freeze_epochs_not_below_max_epochs(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_module("fidle_runs", "+experiment=gtsrb_cnn", "model=pretrained",
                      "model.net.arch=mobilenet_v3_small", "model.finetune.freeze_epochs=5",
                      f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={run_dir}",
                      cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "fidle_runs: error: model.finetune.freeze_epochs=5 is not below trainer.max_epochs=5: "
        "the backbone would never be fine-tuned; give fewer freeze epochs or "
        "trainer.max_epochs=6 or more"], proc.stderr[-2000:]
    assert not (tmp_path / "data").exists()
    assert not [p for p in run_dir.rglob("*") if p.name != "fidle_runs.log"], \
        "nothing but the command's log"


# GTSRB in grey, a small part of the small synthetic set; shufflenet_v2_x0_5 (BatchNorm, no
# dropout: its resumed epochs draw no random numbers that a checkpoint does not restore) on the
# images resized to 32 x 32; the backbone frozen for 2 of 4 epochs.
RESUMED = ["+experiment=gtsrb_cnn", "data.source=synthetic", "data.synthetic_fraction=0.05",
           "data.prepare_workers=2", "data.scale=0.05", "trainer.max_epochs=4",
           "callbacks.progress.style=lines", "model=pretrained",
           "model.net.arch=shufflenet_v2_x0_5", "model.net.input_size=32",
           "model.finetune.freeze_epochs=2"]


@pytest.fixture(scope="module")
def shufflenet_weights(tmp_path_factory) -> Path:
    return write_weights("shufflenet_v2_x0_5", tmp_path_factory.mktemp("weights"))


def resumed_run(run_dir: Path, data_dir: Path, weights: Path) -> Any:
    return compose_train([*RESUMED, f"model.net.weights={weights}", f"paths.data_dir={data_dir}",
                          f"paths.output_root={run_dir.parent}", f"paths.run_dir={run_dir}"])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, shared_data_dir, shufflenet_weights) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = train(resumed_run(run_dir, shared_data_dir, shufflenet_weights))
    assert result.status == "completed" and result.epochs == 4
    return run_dir


def last_checkpoint(run_dir: Path) -> dict[str, Any]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.mark.parametrize(("epoch", "phase"), [(1, "frozen"), (3, "unfrozen")])
def test_a_run_stopped_in_either_phase_resumes_to_the_uninterrupted_weights(
        epoch, phase, uninterrupted, tmp_path, shared_data_dir, shufflenet_weights, monkeypatch):
    """Stopped at the first batch of `epoch` (counted from 0): during the second frozen epoch
    (last.ckpt holds a frozen one), or during the last (it holds the first unfrozen one, the
    backbone's optimizer state with it); launched again, it ends with the uninterrupted run's
    weights and optimizer state, bit for bit."""
    run_dir = tmp_path / "run"
    cfg = resumed_run(run_dir, shared_data_dir, shufflenet_weights)

    def stop(self: StopOnRequeueSignal, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.current_epoch == epoch:
            raise SystemExit(f"stopped in the {phase} phase")

    with monkeypatch.context() as patched:
        patched.setattr(StopOnRequeueSignal, "on_train_batch_end", stop)
        with pytest.raises(SystemExit):
            train(cfg)
    assert last_checkpoint(run_dir)["epoch"] == epoch - 1
    result = train(cfg)
    assert (result.status, result.epochs, result.resumed) == ("completed", 4, 1)
    got, expected = last_checkpoint(run_dir), last_checkpoint(uninterrupted)
    assert equal(got["state_dict"], expected["state_dict"])
    for a, b in zip(got["optimizer_states"][0]["state"].values(),
                    expected["optimizer_states"][0]["state"].values(), strict=True):
        assert equal(a, b)
    loaded = torch.load(shufflenet_weights, weights_only=True)
    assert not torch.equal(got["state_dict"]["net.backbone.conv1.0.weight"],
                           loaded["conv1.0.weight"]), "the backbone was fine-tuned"


class SaveRankWeights(pl.Callback):
    """Each rank's network after each epoch, in `folder` as rank<r>-epoch<e>.pt (a data-parallel
    run's checkpoints are rank 0's only)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(pl_module.net.state_dict(),
                   self.folder / f"rank{trainer.global_rank}-epoch{trainer.current_epoch}.pt")


@pytest.mark.slow  # two Slurm tasks
@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
def test_a_two_task_run_fine_tunes_through_the_unfreeze(tmp_path, shared_data_dir,
                                                        shufflenet_weights, monkeypatch):
    """Two Slurm tasks, one process each (gloo): the backbone as loaded on both ranks after the
    frozen epoch, trained after the next, both ranks' parameters equal throughout."""
    data = [o for o in RESUMED if o.startswith("data.")] + [f"paths.data_dir={shared_data_dir}"]
    build(compose_train(["+experiment=gtsrb_cnn", *data]).data, "data").prepare_data()
    ranks = tmp_path / "ranks"
    overrides = [o for o in RESUMED if not o.startswith(("trainer.max_epochs=", "model.finetune"))]
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the ranks import SaveRankWeights from here
    job = _sbatch("run.sbatch", *overrides, "trainer.max_epochs=2",
                  "model.finetune.freeze_epochs=1", f"model.net.weights={shufflenet_weights}",
                  f"paths.data_dir={shared_data_dir}", "trainer.accelerator=cpu",
                  "trainer.devices=2", "+callbacks.rank_weights._target_="
                  "tests.test_finetune.SaveRankWeights", f"+callbacks.rank_weights.folder={ranks}",
                  cwd=tmp_path, options=("--ntasks-per-node=2",))
    _wait_until(lambda: not _squeue("-j", job), 600, f"job {job} to finish")
    out = (tmp_path / f"fidle_run-{job}.out").read_text()
    result = read_result(tmp_path / "outputs" / "runs" / f"slurm-{job}")
    assert result is not None and result.status == "completed", out[-3000:]
    assert result.epochs == 2 and result.parallel["world_size"] == 2
    assert "2 processes on 1 node(s)" in out and "Traceback" not in out
    saved = {(rank, epoch): torch.load(ranks / f"rank{rank}-epoch{epoch}.pt", weights_only=True)
             for rank in (0, 1) for epoch in (0, 1)}
    loaded = {f"backbone.{k}": v for k, v in torch.load(shufflenet_weights,
                                                          weights_only=True).items()
              if not k.startswith("fc.")}
    # BatchNorm statistics are each rank's own once trained (DDP gives rank 0's to every rank
    # at each forward); parameters are all-reduced.
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    parameters = [k for k in saved[0, 0] if k.startswith("backbone.") and
                  not k.endswith(statistics)]
    for rank in (0, 1):
        frozen, trained = saved[rank, 0], saved[rank, 1]
        assert equal({k: frozen[k] for k in loaded}, loaded), "weights and statistics kept"
        first = "backbone.conv1.0.weight"
        assert not torch.equal(trained[first], loaded[first]), "trained once unfrozen"
        assert not torch.equal(trained["backbone.fc.weight"], frozen["backbone.fc.weight"])
        for epoch in (0, 1):
            assert equal({k: saved[rank, epoch][k] for k in parameters},
                         {k: saved[0, epoch][k] for k in parameters}), (rank, epoch)
