"""A run whose loss stops being finite: stopped at once with one line saying where and what to
try, recorded as diverged (finished, not tested, its checkpoints all from before), skipped when
launched again, trained again with rerun=true or through it with callbacks.divergence.stop=false,
never ranked by reports and sweep summaries; and every JSON file written strict (no bare NaN)."""

import json
import math
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from fidle_runs.callbacks.divergence import Diverged, StopOnDivergence
from fidle_runs.core import atomic, strict_json
from fidle_runs.report.ranking import rank
from fidle_runs.report.report import build_report
from fidle_runs.report.run_index import read_run
from fidle_runs.report.sweep_summary import format_summary, summarize
from fidle_runs.report.tables import shown_path
from fidle_runs.run.train import train
from fidle_runs.store.result import RunResult, read_result
from tests.conftest import compose_train, run_module
from tests.report_tree import REGRESSION, write_run

# scikit-learn's bundled diabetes set (offline, 29 steps an epoch): a learning rate of 1e30
# makes the loss NaN in the first epoch.
DIVERGING = ["+experiment=diabetes_dnn", "optimizer=sgd", "optimizer.lr=1e30",
             "trainer.max_epochs=3", "callbacks.progress.style=lines"]


def strict_loads(text: str) -> object:
    """json.loads refusing NaN and Infinity, as jq and JavaScript do."""

    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def _command(cwd: Path, *overrides: str):
    return run_module("fidle_runs", *DIVERGING, f"hydra.run.dir={cwd / 'run'}",
                      f"paths.output_root={cwd}", *overrides, cwd=cwd)


def test_a_diverging_run_stops_at_once_says_where_and_is_finished(tmp_path):
    proc = _command(tmp_path)
    assert proc.returncode != 0
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("fidle_runs: error: diverged at epoch 1, step "), proc.stderr[-2000:]
    assert ": train_loss is nan; try a lower optimizer.lr (now 1e+30) or " \
           "trainer.gradient_clip_val=1.0" in line
    assert sum("diverged at" in text for text in proc.stderr.splitlines()) == 1
    assert "epoch 1/3" not in proc.stdout, "it stopped before the epoch ended"
    run_dir = tmp_path / "run"
    text = (run_dir / "result.json").read_text()
    record = strict_loads(text)
    assert record["status"] == "diverged"
    assert record["error"] == line.removeprefix("fidle_runs: error: ")
    where = record["diverged"]
    assert where["epoch"] == 1 and where["metric"] == "train_loss" and where["value"] is None
    assert isinstance(where["step"], int) and 1 <= where["step"] <= 29
    assert record["nonfinite"] == {"diverged.value": "nan"}
    assert record["metrics"] == {} and record["primary"]["value"] is None, "not tested"
    assert record["checkpoints"] == {"best": None, "last": None}
    assert record["epochs"] == 0

    # Launched again, it is finished: nothing trains, the command fails with its line again.
    again = _command(tmp_path)
    assert again.returncode != 0 and again.stderr.strip().splitlines()[-1] == line
    assert "already holds a diverged run (diverged at epoch 1, step " in again.stdout
    assert strict_loads((run_dir / "result.json").read_text())["updated"] == record["updated"]

    # rerun=true trains it again (set aside first), and with stop=false it trains through.
    through = _command(tmp_path, "rerun=true", "callbacks.divergence.stop=false")
    assert through.returncode == 0, through.stderr[-2000:]
    assert len(list(run_dir.glob("replaced-*/result.json"))) == 1
    record = strict_loads((run_dir / "result.json").read_text())
    assert record["status"] == "completed" and record["epochs"] == 3
    assert record["primary"]["value"] is None
    assert record["nonfinite"]["primary.value"] == "nan"
    assert record["nonfinite"]["metrics.test_loss"] == "nan"
    # Every validation scored NaN: no checkpoint is the best one, none is named as such.
    assert record["checkpoints"]["best"] is None and record["monitor"]["best"] is None
    assert not list((run_dir / "checkpoints").glob("best-*"))
    row = read_run(run_dir)
    assert row.status == "completed" and "completed without test_mae" in row.problems
    assert rank([row]) == []


def test_a_run_diverging_later_keeps_only_checkpoints_from_before(tmp_path):
    # Adam's steps are about its learning rate whatever the gradients: at 2500 the weights grow
    # until the loss overflows, after the first epoch.
    cfg = compose_train(["+experiment=diabetes_dnn", "optimizer.lr=2500", "trainer.max_epochs=4",
                         "callbacks.progress.style=lines", f"paths.output_root={tmp_path}",
                         f"paths.run_dir={tmp_path / 'run'}"])
    result = train(cfg)
    assert result.status == "diverged" and result.diverged["epoch"] >= 2
    assert result.epochs == result.diverged["epoch"] - 1
    assert result.metrics == {} and result.duration_s["test"] == 0.0
    best = Path(result.checkpoints["best"])
    assert (tmp_path / "run" / best).is_file()
    assert int(best.name.split("-epoch")[1][:3]) < result.diverged["epoch"]
    assert math.isfinite(result.monitor["best"])
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["epoch"] + 1 == result.epochs
    assert all(torch.isfinite(w).all() for w in saved["state_dict"].values())
    assert read_result(tmp_path / "run").status == "diverged"


def _module(losses: dict[str, float]) -> SimpleNamespace:
    return SimpleNamespace(mean_losses={"train_loss": None, "val_loss": None},
                           epoch_values=lambda stage: {k: v for k, v in losses.items()
                                                       if k.startswith(f"{stage}_")})


def _trainer(**fields) -> SimpleNamespace:
    return SimpleNamespace(**{"sanity_checking": False, "current_epoch": 4, "global_step": 120,
                              "world_size": 1, "gradient_clip_val": 0.5,
                              "optimizers": [torch.optim.SGD([torch.zeros(1)], lr=0.3)],
                              **fields})


def test_a_validation_loss_that_is_not_finite_stops_the_run_before_its_checkpoint():
    callback = StopOnDivergence()
    with pytest.raises(Diverged) as stopped:
        callback.on_validation_end(_trainer(), _module({"train_loss": 2.0,
                                                        "val_loss": float("inf")}))
    assert stopped.value.where == {"epoch": 5, "step": 120, "metric": "val_loss",
                                   "value": float("inf")}
    assert str(stopped.value) == (
        "diverged at epoch 5, step 120: val_loss is inf; try a lower optimizer.lr (now 0.3) or a "
        "smaller trainer.gradient_clip_val (now 0.5); callbacks.divergence.stop=false trains "
        "through it")
    # The sanity check before training, and stop=false, check nothing.
    callback.on_validation_end(_trainer(sanity_checking=True), _module({"val_loss": math.nan}))
    StopOnDivergence(stop=False).on_validation_end(_trainer(), _module({"val_loss": math.nan}))
    StopOnDivergence(stop=False).on_train_batch_end(_trainer(), _module({}),
                                                    {"loss": torch.tensor(math.nan)}, None, 0)


def test_non_finite_values_are_written_as_null_and_named(tmp_path):
    data = {"a": math.nan, "b": {"c": [1.0, math.inf, {"d": -math.inf}]}, "e": "NaN", "f": 2}
    written = strict_loads(strict_json.dumps(data))
    assert written == {"a": None, "b": {"c": [1.0, None, {"d": None}]}, "e": "NaN", "f": 2,
                       "nonfinite": {"a": "nan", "b.c.1": "inf", "b.c.2.d": "-inf"}}
    # Read back and written again, a value still null keeps its reason; one now set loses it.
    written["a"] = 0.5
    again = strict_loads(strict_json.dumps(written))
    assert again["nonfinite"] == {"b.c.1": "inf", "b.c.2.d": "-inf"}
    # A list at the top: each object in it names its own.
    assert strict_loads(strict_json.dumps([{"x": math.nan}, math.inf])) == [
        {"x": None, "nonfinite": {"x": "nan"}}, None]
    atomic.write_json(tmp_path / "f.json", {"ok": 1.0, "loss": math.nan})
    assert strict_loads((tmp_path / "f.json").read_text()) == {
        "ok": 1.0, "loss": None, "nonfinite": {"loss": "nan"}}


def test_an_old_result_with_bare_nan_is_read_and_never_ranked(tmp_path):
    old = RunResult(status="completed", task="regression", model="bhpd_dnn",
                    primary={**REGRESSION["primary"], "value": math.nan, "baselines": {}},
                    monitor={**REGRESSION["monitor"], "best": math.inf},
                    metrics={"test_mae": math.nan, "test_loss": math.nan},
                    data={"name": "diabetes", "family": "tables", "source": "real"})
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    (run_dir / "result.json").write_text(json.dumps(asdict(old), indent=2))
    assert "NaN" in (run_dir / "result.json").read_text()
    result = read_result(run_dir)
    assert result is not None and math.isnan(result.primary["value"])
    row = read_run(run_dir)
    assert row.status == "completed" and "completed without test_mae" in row.problems
    report = build_report([tmp_path])
    assert report.matrices == []
    report.write(tmp_path / "out")
    written = strict_loads((tmp_path / "out" / "report.json").read_text())
    assert written["runs"][0]["primary_value"] is None
    assert written["nonfinite"]["runs.0.primary_value"] == "nan"


def test_reports_and_sweep_summaries_list_a_diverged_run_apart_with_its_reason(tmp_path):
    why = ("diverged at epoch 2, step 40: train_loss is nan; try a lower optimizer.lr (now 0.1) "
           "or trainer.gradient_clip_val=1.0; callbacks.divergence.stop=false trains through it")
    write_run(tmp_path / "sweep" / "optimizer.lr=0.1", "diverged", "diabetes", "bhpd_dnn",
              task=REGRESSION, family="tables", value=None, epochs=1, error=why,
              diverged={"epoch": 2, "step": 40, "metric": "train_loss", "value": math.nan})
    write_run(tmp_path / "sweep" / "optimizer.lr=0.001", "completed", "diabetes", "mlp",
              task=REGRESSION, family="tables", value=58.0)
    report = build_report([tmp_path])
    [matrix] = report.matrices
    assert [r.model for r in matrix.runs] == ["mlp"]
    text = report.text()
    assert "2 runs: 1 completed, 1 diverged" in text
    diverged = shown_path(tmp_path / "sweep" / "optimizer.lr=0.1")
    assert f"diverged    {diverged}: {why}" in text.split("Not completed")[1]
    rows = summarize(tmp_path / "sweep", None)
    assert ("optimizer.lr=0.1", "diverged", f"bhpd_dnn on diabetes: {why}") in rows
    summary = format_summary(tmp_path / "sweep", rows)
    assert summary.splitlines()[0].endswith("1 completed, 0 skipped, 0 failed, 0 interrupted, "
                                            "1 diverged")


def test_a_sweep_goes_on_past_a_diverged_run(tmp_path):
    proc = run_module("fidle_runs", "-m", "+experiment=diabetes_dnn", "optimizer=sgd",
                      "optimizer.lr=1e30,1e-5", "trainer.max_epochs=1",
                      "callbacks.progress.style=lines", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                      f"paths.output_root={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 completed, 0 skipped, 0 failed, 0 interrupted, 1 diverged" in proc.stdout
    assert sum("diverged at epoch 1" in line for line in proc.stdout.splitlines()) == 2, \
        "logged once by the run, and in the summary"
