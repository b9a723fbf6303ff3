"""`python -m fidle_runs [overrides]`: one run, or with -m a sweep, from the Hydra config.

A single run stops on a user error with one line and a non-zero exit, and so does a run whose
loss diverged (fidle_runs.callbacks.divergence). In a sweep, a failing or diverged run is
recorded (result.json says why) and the sweep goes on; the summary at the end (see
fidle_runs.report.sweep_summary) exits non-zero if any run failed. On Slurm's warning signal the run
stops and the job is requeued (fidle_runs.launch.requeue).
"""

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from fidle_runs.config.conf import CONF_DIR, check_config
from fidle_runs.core.errors import UserError, one_line
from fidle_runs.hardware.data_parallel import is_lead_process, quiet_other_ranks
from fidle_runs.launch.requeue import RequeueRequested, install_handler, requested, requeue_and_exit
from fidle_runs.launch.resolvers import register_resolvers
from fidle_runs.store.run_dir import mark_launched

log = logging.getLogger("fidle_runs")
register_resolvers()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    sweeping = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    install_handler()
    quiet_other_ranks()
    if sweeping:
        mark_launched(Path(cfg.paths.run_dir))
    if requested():  # arrived during the previous run of a sweep, after its training ended
        requeue_and_exit("requeue signal received before this run started")
    try:
        check_config(cfg)
        from fidle_runs.run.train import train  # torch and Lightning load once the config is valid

        result = train(cfg)
    except RequeueRequested as e:
        requeue_and_exit(str(e))
    except UserError as e:
        if not sweeping:
            raise SystemExit(f"fidle_runs: error: {e}") from None
        _record_failure(cfg, one_line(e))
        return None
    except Exception as e:
        if not sweeping:
            raise
        _record_failure(cfg, one_line(e))
        return None
    if result.status == "diverged":
        if not sweeping:
            raise SystemExit(f"fidle_runs: error: {result.error}")
        log.error("run %s %s", cfg.paths.run_dir, result.error)
    return result.primary["value"]  # what a sweeper (Optuna) optimises


def _record_failure(cfg: DictConfig, error: str) -> None:
    """Make sure a failed sweep job leaves a result.json saying why (train() writes one once the
    run has started; this covers failures before that, such as an impossible hyper-parameter)."""
    from fidle_runs.store.result import RunResult, read_result

    run_dir = Path(cfg.paths.run_dir)
    log.error("run %s failed: %s", run_dir, error)
    if is_lead_process() and read_result(run_dir) is None:
        model = cfg.get("model", {}).get("name", "")
        RunResult(status="failed", error=error, run_dir=str(run_dir.resolve()),
                  task=str(OmegaConf.select(cfg, "task.name", default="")), model=model,
                  seed=cfg.get("seed"),
                  overrides=list(HydraConfig.get().overrides.task)).write(run_dir)


if __name__ == "__main__":
    # Also in the launching process: under hydra/launcher=local_parallel inside a Slurm job, the
    # warning signal reaches it too, and must not kill it before its runs have requeued the job.
    install_handler()
    main()
