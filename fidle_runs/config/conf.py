"""What the configs need besides YAML: where conf/ is, the hyper-parameter checks that must
fail before any data is touched, and building a node with its key named on error."""

from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fidle_runs.core.errors import UserError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def check_config(cfg: DictConfig) -> None:
    """Reject impossible hyper-parameters with the key to fix, before anything is built."""
    lr = OmegaConf.select(cfg, "optimizer.lr")
    if lr is not None and not (isinstance(lr, int | float) and lr > 0):
        raise UserError(f"optimizer.lr={lr} is invalid: the learning rate must be > 0, "
                        "e.g. optimizer.lr=0.001")
    max_epochs = OmegaConf.select(cfg, "trainer.max_epochs")
    if not (isinstance(max_epochs, int) and max_epochs >= 1):
        raise UserError(f"trainer.max_epochs={max_epochs} is invalid: it must be an integer >= 1")
    finetune = OmegaConf.select(cfg, "model.finetune")
    if finetune is not None:
        _check_finetune(finetune, max_epochs)
    seed = cfg.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise UserError(f"seed={seed!r} is invalid: it must be an integer, e.g. seed=0")
    if "name" not in cfg.get("model", {}):
        models = "|".join(sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml")))
        raise UserError(f"the model config has no name: choose one with model={models}")


def _check_finetune(finetune: DictConfig, max_epochs: int) -> None:
    """A fine-tuning schedule (conf/model/pretrained.yaml) that unfreezes the backbone within
    the run, at a positive learning rate."""
    freeze = finetune.get("freeze_epochs")
    if not (isinstance(freeze, int) and not isinstance(freeze, bool) and freeze >= 0):
        raise UserError(f"model.finetune.freeze_epochs={freeze!r} is invalid: it must be an "
                        "integer >= 0 (the first epochs, in which the backbone is frozen)")
    if freeze >= max_epochs:
        raise UserError(f"model.finetune.freeze_epochs={freeze} is not below trainer.max_epochs="
                        f"{max_epochs}: the backbone would never be fine-tuned; give fewer "
                        f"freeze epochs or trainer.max_epochs={freeze + 1} or more")
    mult = finetune.get("backbone_lr_mult")
    if not (isinstance(mult, int | float) and not isinstance(mult, bool) and mult > 0):
        raise UserError(f"model.finetune.backbone_lr_mult={mult!r} is invalid: it must be > 0 "
                        "(the backbone's learning rate as a multiple of the optimizer's, e.g. "
                        "0.1)")
    if not isinstance(finetune.get("train_bn"), bool):
        raise UserError(f"model.finetune.train_bn={finetune.get('train_bn')!r} is invalid: it "
                        "must be true or false")


def build(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, with a UserError raised inside passed through as it is and
    any other construction error reported as the config key to fix."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        reason = f"{type(cause).__name__}: {cause}" if cause else str(e).splitlines()[0]
        raise UserError(f"cannot build {key} ({node.get('_target_')}): {reason}; fix the "
                        f"{key}.* settings") from e
