"""One run, top to bottom: config -> data -> model -> fit -> test -> result.json."""

import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from pytorch_lightning.plugins.environments import SLURMEnvironment

from fidle_runs.callbacks.divergence import Diverged
from fidle_runs.callbacks.result_progress import ResultProgress
from fidle_runs.callbacks.run_checkpoint import epoch_end_step
from fidle_runs.callbacks.stop_on_requeue import StopOnRequeueSignal
from fidle_runs.callbacks.test_predictions import SaveTestPredictions
from fidle_runs.config.conf import build, check_config
from fidle_runs.core import lightning_noise
from fidle_runs.core.errors import UserError, one_line
from fidle_runs.hardware.data_parallel import check_local_sweep, check_slurm_layout, is_lead_process
from fidle_runs.hardware.gpu_slots import devices_for_run
from fidle_runs.hardware.speed import apply_speed
from fidle_runs.launch.requeue import RequeueRequested, requeue_loops
from fidle_runs.launch.search.pruning import ReportToStudy, study_reporter
from fidle_runs.loggers.purge import takes_purge_step
from fidle_runs.loggers.run_record import record_run
from fidle_runs.loggers.tracking import check_packages
from fidle_runs.run.assemble import (
    build_datamodule,
    build_network,
    build_task_module,
    check_primary,
    task_config,
)
from fidle_runs.run.init_from import init_from
from fidle_runs.run.preflight import check_data_and_network
from fidle_runs.store.result import FINISHED, RunResult, new_result, read_result
from fidle_runs.store.run_dir import (
    CHECKPOINT_DIR,
    LAST_CHECKPOINT,
    check_same_data,
    check_same_run,
    check_still_resumable,
    clear_temporaries,
    clear_unfinished_attempt,
    clear_unreferenced_checkpoints,
    group_id,
    read_checkpoint,
    recorded_checkpoints,
    resume_point,
    save_config,
    set_aside,
)

log = logging.getLogger(__name__)
lightning_noise.silence()


def train(cfg: DictConfig) -> RunResult:
    """Run (or resume, or skip when already completed) the run described by `cfg`.

    In a data-parallel run every rank calls this; each decides from the run directory what to
    do (skip, resume, start) and reaches the same decision, but only rank 0 changes the
    directory (see fidle_runs.hardware.data_parallel).

    A run whose loss diverged returns, its result saying so (status `diverged`), rather than
    raising: in a sweep the other runs go on; `python -m fidle_runs` makes a single run's
    command fail with its line."""
    _check(cfg)
    run_dir = Path(cfg.paths.run_dir)
    start = _decide(cfg, run_dir)
    if isinstance(start, RunResult):
        return start
    result = _new_result(cfg, run_dir, start)
    try:
        with devices_for_run(cfg) as devices:
            run = _build(cfg, run_dir, result, start.purge_step, devices)
            if _fit(run, start.checkpoint):
                if cfg.get("test", True):
                    _test(run)
                _record(run)
    except BaseException as e:
        stop = _stop_reason(e, start.epochs_before, result.epochs)
        _record_stop(run_dir, result, stop)
        if stop is e:
            raise
        raise stop from None
    return result


@dataclass(frozen=True)
class Start:
    """Where a run starts: from scratch, or from `checkpoint` (last.ckpt), whose epoch-end step
    the loggers purge from (`purge_step`), after `epochs_before` epochs, continuing the
    interrupted attempt's result (`previous`)."""

    checkpoint: Path | None = None
    purge_step: int | None = None
    epochs_before: int = 0
    previous: RunResult | None = None


@dataclass(frozen=True)
class Run:
    """A built run: what it fits and tests, and the callbacks its result is read from."""

    cfg: DictConfig
    run_dir: Path
    result: RunResult
    datamodule: pl.LightningDataModule
    module: pl.LightningModule
    trainer: pl.Trainer
    progress: ResultProgress
    reporter: ReportToStudy | None
    predictions: SaveTestPredictions


def _check(cfg: DictConfig) -> None:
    """Refuse, before anything is written, a config, packages or a parallel layout that cannot
    run."""
    check_config(cfg)
    check_primary(cfg)
    check_packages(cfg)
    check_slurm_layout(cfg)
    check_local_sweep(cfg)


def _decide(cfg: DictConfig, run_dir: Path) -> RunResult | Start:
    """What the run directory says to do: the completed run's result when there is nothing to
    do (skip), else where to start (resume or start over), the directory made ready for it."""
    lead = is_lead_process()
    previous = read_result(run_dir)
    check_same_run(run_dir, cfg, previous)
    completed = previous is not None and previous.status in FINISHED
    if completed and not cfg.get("rerun", False):
        log.info("%s already holds a %s run (%s): nothing to do (rerun=true trains it again)",
                 run_dir, previous.status, previous.error or
                 f"{previous.primary['name']} {previous.primary['value']}")
        return previous
    # Before the directory changes: a refused run leaves it as is.
    check_data_and_network(cfg, completed or not (run_dir / LAST_CHECKPOINT).is_file())
    if completed:
        if lead:
            log.info("rerun=true: the %s run moves to %s", previous.status, set_aside(run_dir))
        previous = None
    # A rank other than 0 may look after rank 0 has set the completed run aside, or before.
    start = _start_over(cfg, run_dir, previous, lead) if completed else _resume(
        cfg, run_dir, previous, lead)
    if lead:
        clear_temporaries(run_dir, run_dir / CHECKPOINT_DIR)
        save_config(run_dir, cfg)
    return start


def _resume(cfg: DictConfig, run_dir: Path, previous: RunResult | None, lead: bool) -> Start:
    """From last.ckpt (or the most advanced intact checkpoint) when there is one, its
    unreferenced checkpoints cleared; otherwise start over."""
    resume = resume_point(run_dir, previous.epochs if previous else 0, lead)
    if resume is None:
        return _start_over(cfg, run_dir, previous, lead)
    # The state maps the checkpoint's file: released on return, or the blocks of the last.ckpt
    # that the first save replaces would stay allocated on disk for the whole run.
    checkpoint, state = resume
    if lead:
        clear_unreferenced_checkpoints(checkpoint, state)
    # Logs from the checkpoint's epoch-end step on are dropped, and that step logged again.
    return Start(checkpoint, epoch_end_step(state), int(state["epoch"]) + 1, previous)


def _start_over(cfg: DictConfig, run_dir: Path, previous: RunResult | None,
                lead: bool) -> Start:
    """From scratch, once sure the previous attempt cannot be resumed, its outputs cleared."""
    check_still_resumable(run_dir, previous)
    if lead:
        clear_unfinished_attempt(run_dir, _outputs(cfg))
    return Start()


def _new_result(cfg: DictConfig, run_dir: Path, start: Start) -> RunResult:
    """This attempt's result, continuing a resumed attempt's epochs, data, count and fit time."""
    result = new_result(run_dir, cfg.model.name, cfg.get("seed"), _overrides(),
                        cfg.trainer.max_epochs, task_config(cfg))
    result.epochs = start.epochs_before
    result.group = group_id(cfg)
    previous = start.previous
    if previous is not None:
        result.data = previous.data  # what it trained on, checked against what loads now
        result.init_from = previous.init_from
        result.resumed = previous.resumed + 1
        result.duration_s["fit"] = previous.duration_s.get("fit", 0.0)
        result.started = previous.started or result.started
    return result


def _build(cfg: DictConfig, run_dir: Path, result: RunResult, purge_step: int | None,
           devices: list[int] | None) -> Run:
    """Seed, data (checked against what a resumed run trained on), network, task and trainer;
    result.json says what the run is, and the log line says it to the user."""
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=is_lead_process())
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    loaded = datamodule.describe()
    check_same_data(run_dir, result.data, loaded)  # result.data kept if refused
    result.data = loaded
    net = build_network(cfg, datamodule.dims, datamodule.name)
    if purge_step is None:  # from scratch: a resumed run's weights come from its checkpoint
        result.init_from = init_from(cfg.model.get("init_from"), net, loaded["shape"])
    result.weights = getattr(net, "weights_record", None)  # a pretrained network's source
    fast_path = apply_speed(cfg, datamodule, net, result)
    module = build_task_module(cfg, net, datamodule)
    result.finetune = getattr(module.group_schedule, "record", None)  # model.finetune's phases
    result.params = sum(p.numel() for p in module.net.parameters() if p.requires_grad)
    result.task_options = module.options()
    progress = ResultProgress(result, str(run_dir))
    reporter = study_reporter(cfg)  # a trial of a search with a pruner
    predictions = SaveTestPredictions(run_dir)
    trainer = _trainer(cfg, [progress, StopOnRequeueSignal(), predictions, *fast_path,
                             *([reporter] if reporter else [])], purge_step, devices)
    result.parallel = _parallel(trainer, datamodule.batch_size)
    if trainer.world_size > 1 and cfg.get("seed") is not None:
        # Weights start equal on every rank (DDP broadcasts rank 0's); dropout and augmentation
        # must not draw the same numbers on every rank.
        torch.manual_seed(cfg.seed + trainer.global_rank)
    _write(result, run_dir)
    return Run(cfg, run_dir, result, datamodule, module, trainer, progress, reporter, predictions)


def _trainer(cfg: DictConfig, own_callbacks: list[pl.Callback], purge_step: int | None,
             devices: list[int] | None) -> pl.Trainer:
    """The configured trainer with the configured callbacks then the run's own, its loggers,
    its plugins, and the devices it was given."""
    callbacks = [build(c, f"callbacks.{name}") for name, c in cfg.callbacks.items()
                 if c is not None] + own_callbacks
    placement = {"devices": devices} if devices is not None else {}
    return build(cfg.trainer, "trainer", callbacks=callbacks, logger=_loggers(cfg, purge_step),
                 plugins=_plugins(cfg), **placement)


def _fit(run: Run, checkpoint: Path | None) -> bool:
    """Fit (from `checkpoint` when resuming); the result gets the fit's time, epochs, best
    monitored value and checkpoints. False when the run ends there, its result written: its
    loss diverged, or the search's pruner stopped it."""
    result, run_dir = run.result, run.run_dir
    log.info("run %s: %s on %s (%s, %d train / %d val / %d test), %d parameters, %s%s", run_dir,
             run.cfg.model.name, result.data["name"], result.data["source"],
             result.data["n_train"], result.data["n_val"], result.data["n_test"], result.params,
             _processes(result), f", resuming from {checkpoint}" if checkpoint else "")
    try:
        run.trainer.fit(run.module, datamodule=run.datamodule,
                        ckpt_path=str(checkpoint) if checkpoint else None)
        diverged = None
    except Diverged as e:  # no checkpoint was saved from the weights that diverged
        diverged = e
    result.duration_s["fit"] = round(run.progress.fit_before + run.progress.elapsed(), 3)
    result.epochs = run.trainer.current_epoch
    checkpointer = run.trainer.checkpoint_callback
    if checkpointer is not None and checkpointer.best_model_score is not None:
        result.monitor["best"] = round(float(checkpointer.best_model_score), 6)
    result.checkpoints = recorded_checkpoints(run_dir, _best(run.trainer))
    pruned = run.reporter.pruned if run.reporter is not None else None
    if diverged is not None:
        result.status, result.diverged, result.error = "diverged", diverged.where, str(diverged)
    elif pruned is not None:
        result.status, result.pruned = "pruned", pruned
    _write(result, run_dir)
    if diverged is None and pruned is not None:
        log.info("pruned after epoch %d (%s %s): not tested; run directory %s", pruned["epoch"],
                 pruned["metric"], pruned["value"], run_dir.resolve())
    return diverged is None and pruned is None


def _test(run: Run) -> None:
    """Test the best checkpoint (the last weights without one): the result's metrics (the
    task's scores of the saved test predictions, in float64, over what the test logged), and
    its primary metric's value and the same metric of the task's baselines
    (`<primary>_<baseline>`)."""
    result, best = run.result, _best(run.trainer)
    if best:
        _check_intact(Path(best))
    start = time.perf_counter()
    tested = run.trainer.test(run.module, datamodule=run.datamodule, ckpt_path=best or None,
                              verbose=False)[0]
    result.duration_s["test"] = round(time.perf_counter() - start, 3)
    metrics = {name: round(float(value), 6) for name, value in tested.items()}
    metrics.update({f"test_{name}": value
                    for name, value in (run.predictions.scores or {}).items()})
    result.metrics = dict(sorted(metrics.items()))
    primary = result.primary["name"]
    result.primary["value"] = result.metrics.get(primary)
    result.primary["baselines"] = {f"{primary}_{baseline}": result.metrics[f"{primary}_{baseline}"]
                                   for baseline in run.module.BASELINES
                                   if f"{primary}_{baseline}" in result.metrics}


def _record(run: Run) -> None:
    """The completed run's result.json, then on rank 0 its tracking records and the lines that
    tell the user how it went and where everything is."""
    result, run_dir = run.result, run.run_dir
    result.status = "completed"
    _write(result, run_dir)
    if not run.trainer.is_global_zero:
        return
    record_run(run.trainer, run.cfg, result)
    log.info("completed: %s %s, best %s %s, %d epochs, fit %.1fs", result.primary["name"],
             result.primary["value"], result.monitor["name"], result.monitor["best"],
             result.epochs, result.duration_s["fit"])
    log.info("run directory: %s", run_dir.resolve())
    log.info("  result:      %s", (run_dir / "result.json").resolve())
    log.info("  checkpoints: %s", (run_dir / "checkpoints").resolve())
    log.info("  tensorboard: tensorboard --logdir %s", (run_dir / "tensorboard").resolve())


def _stop_reason(e: BaseException, epochs_before: int, epochs: int) -> BaseException:
    """`e`, or, when it is a requeue of a job that completed no epoch since it was last
    requeued (it would loop), the UserError that says what to give the job instead."""
    if not isinstance(e, RequeueRequested) or not requeue_loops(epochs_before, epochs):
        return e
    return UserError(f"{e}, but this requeued job completed no epoch: its time between start "
                     "and Slurm's warning signal is shorter than one epoch; give the job more "
                     "time (hydra.launcher.timeout_min, sbatch --time) or a shorter warning "
                     "(hydra.launcher.signal_delay_s, --signal=USR1@N), then launch it again to "
                     "resume")


def _record_stop(run_dir: Path, result: RunResult, e: BaseException) -> None:
    """Record in result.json why the run stopped: interrupted (resumable) or failed."""
    interrupted = isinstance(e, KeyboardInterrupt | SystemExit | RequeueRequested)
    result.status = "interrupted" if interrupted else "failed"
    result.error = (f"{one_line(e)}: run the same command again to resume" if interrupted
                    else one_line(e))
    try:
        _write(result, run_dir)
    except OSError as write_error:  # the disk that stopped the run may refuse this too
        log.warning("%s could not record why the run stopped (%s)", run_dir, one_line(write_error))
    if interrupted:
        log.warning("%s interrupted: %s", run_dir, result.error)
    elif not isinstance(e, UserError):
        log.error("run failed:\n%s", traceback.format_exc())


def _best(trainer: pl.Trainer) -> str:
    """The best checkpoint's path, or "" when there is none (no checkpoint callback)."""
    checkpointer = trainer.checkpoint_callback
    return checkpointer.best_model_path if checkpointer is not None else ""


def _write(result: RunResult, run_dir: Path) -> None:
    """result.json has one writer: rank 0."""
    if is_lead_process():
        result.write(run_dir)


def _parallel(trainer: pl.Trainer, batch_per_device: int) -> dict[str, int | str]:
    """result.json's `parallel` block: how many processes trained, and the global batch."""
    return {"world_size": trainer.world_size, "num_nodes": trainer.num_nodes,
            "devices_per_node": trainer.num_devices, "device": str(trainer.strategy.root_device),
            "batch_per_device": batch_per_device,
            "global_batch": batch_per_device * trainer.world_size}


def _processes(result: RunResult) -> str:
    """`cpu` or `cuda:0`, or in data-parallel training `2 processes on 1 node(s) x batch 32 =
    global batch 64`."""
    parallel = result.parallel
    if parallel["world_size"] == 1:
        return parallel["device"]
    return (f"{parallel['world_size']} processes on {parallel['num_nodes']} node(s) x batch "
            f"{parallel['batch_per_device']} = global batch {parallel['global_batch']}")


def _loggers(cfg: DictConfig, purge_step: int | None) -> list:
    """Loggers from config. A resumed run's TensorBoard and CSV logs stay in their folders:
    both drop what the interrupted attempt logged from the checkpoint's step on (`purge_step`),
    so each epoch is logged once."""
    loggers = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        if logger_cfg is None:
            continue
        if purge_step is not None and takes_purge_step(hydra.utils.get_class(logger_cfg._target_)):
            with open_dict(logger_cfg):
                logger_cfg.purge_step = purge_step
        loggers.append(build(logger_cfg, f"logger.{name}"))
    return loggers


def _outputs(cfg: DictConfig) -> list[Path]:
    """The folders a run writes besides its own files: checkpoints and each logger's folder."""
    outputs = [Path(cfg.paths.run_dir) / CHECKPOINT_DIR]
    for logger_cfg in (cfg.get("logger") or {}).values():
        if logger_cfg is not None and logger_cfg.get("save_dir") and logger_cfg.get("name"):
            outputs.append(Path(logger_cfg.save_dir) / logger_cfg.name)
    return outputs


def _check_intact(best: Path) -> None:
    """A torn best checkpoint is named in one line, not loaded with torch's traceback."""
    try:
        read_checkpoint(best)
    except UserError as e:
        raise UserError(f"{e}: the run's best weights are lost, so it cannot be tested; restore "
                        "the file from a copy, or move the run directory away and launch again "
                        "to start over") from None


def _plugins(cfg: DictConfig) -> list:
    """The trainer's configured plugins, plus, inside a Slurm job step, Lightning's Slurm
    environment with its auto-requeue off: fidle_runs.launch.requeue owns requeue."""
    plugins = [build(p, "trainer.plugins") for p in cfg.trainer.get("plugins") or []]
    if SLURMEnvironment.detect():
        plugins.append(SLURMEnvironment(auto_requeue=False))
    return plugins


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
