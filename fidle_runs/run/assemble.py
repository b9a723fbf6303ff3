"""A run's objects from its config, in the order data flows: the datamodule, the network sized
from the data's dims, the task's LightningModule around it. Training and the report's
checkpoint evaluation both build them here, so they cannot drift apart."""

from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fidle_runs.callbacks.finetune import FinetuneSchedule
from fidle_runs.config.conf import CONF_DIR, build
from fidle_runs.core.errors import UserError
from fidle_runs.data.in_memory import InMemoryDataModule
from fidle_runs.launch.resolvers import declared_score, register_resolvers
from fidle_runs.tasks.base import TaskModule


def task_config(cfg: DictConfig) -> DictConfig:
    """The run's task group; runs recorded before tasks existed were classifications."""
    task = cfg.get("task")
    if task is not None:
        return task
    register_resolvers()  # the primary metric's direction is the task module's
    return OmegaConf.load(CONF_DIR / "task" / "classification.yaml")


def check_primary(cfg: DictConfig) -> None:
    """Refuse a primary metric the task does not score, naming those it does."""
    task = task_config(cfg)
    name = task.primary.name
    if declared_score(task.module._target_, name) is None:
        scores = getattr(get_class(task.module._target_), "SCORES", {})
        raise UserError(f"task.primary.name={name} is no test metric of the {task.name} task: "
                        f"choose one of {', '.join(f'test_{s}' for s in scores)}")


def build_datamodule(cfg: DictConfig) -> InMemoryDataModule:
    """The data config's datamodule, refused when its targets are not for the run's task."""
    datamodule = build(cfg.data, "data")
    task = task_config(cfg).name
    if datamodule.task != task:
        raise UserError(f"data {datamodule.name} has {datamodule.task} targets, which "
                        f"task={task} cannot learn: choose task={datamodule.task} (the "
                        "experiments of this data do)")
    return datamodule


def build_network(cfg: DictConfig, dims: dict[str, Any], data_name: str) -> nn.Module:
    """The model's network sized from the data; a model that cannot take it is one clear line."""
    try:
        return build(cfg.model.net, "model.net")(**dims)
    except ValueError as e:
        raise UserError(f"model={cfg.model.name} cannot take {data_name} samples of shape "
                        f"{tuple(dims['in_shape'])}: {e}; choose another model or other data "
                        "(e.g. a larger data.size)") from None


def build_task_module(cfg: DictConfig, net: nn.Module, datamodule: InMemoryDataModule,
                      n_outputs: int | None = None) -> TaskModule:
    """The task's module around `net`, told what it needs of the loaded data (`n_outputs`: as
    a run recorded them, where it differs from what the data has now), its baselines fitted
    on the data's training samples where they are loaded, a pretrained backbone's fine-tuning
    schedule given to it (model.finetune)."""
    scheduler = build(cfg.scheduler, "scheduler") if cfg.get("scheduler") else None
    module = build(task_config(cfg).module, "task.module")(
        net=net, optimizer=build(cfg.optimizer, "optimizer"), scheduler=scheduler,
        n_outputs=datamodule.dims["n_outputs"] if n_outputs is None else n_outputs,
        model_name=cfg.model.name, **datamodule.task_arguments())
    if "train" in datamodule.tensors:
        module.fit_baselines(*datamodule.tensors["train"], datamodule.network_input)
    finetune = cfg.model.get("finetune")
    if finetune is not None:
        _schedule_backbone(cfg, finetune, module)
    return module


def _schedule_backbone(cfg: DictConfig, finetune: DictConfig, module: TaskModule) -> None:
    """Give `module` the fine-tuning schedule of its pretrained backbone (model.finetune):
    the learning rates of its parameter groups and the callback that freezes the backbone
    first, which the module adds to the trainer's."""
    if not hasattr(module.net, "parameter_groups"):
        raise UserError(f"model.finetune: model={cfg.model.name} has no pretrained backbone to "
                        "fine-tune; leave model.finetune out or choose model=pretrained")
    schedule = FinetuneSchedule(
        module.net, cfg.trainer.max_epochs, OmegaConf.select(cfg, "optimizer.lr"),
        freeze_epochs=finetune.freeze_epochs, backbone_lr_mult=finetune.backbone_lr_mult,
        train_bn=finetune.train_bn)
    module.group_schedule, module.group_lr_mults = schedule, schedule.lr_mults
