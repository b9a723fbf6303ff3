import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fidle_runs.config.conf import CONF_DIR, build
from fidle_runs.core.errors import UserError
from fidle_runs.launch.job_dirs import run_name
from fidle_runs.run.assemble import build_datamodule, build_network, build_task_module
from fidle_runs.store.run_dir import checkpoint_path
from tests.conftest import REPO, compose_train
from tests.real_data import real_bhpd_csv
from tests.test_tables import write_wine
from tests.test_text_presets import write_keras_cache

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def test_there_are_experiments():
    assert "gtsrb_cnn" in EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_instantiates(experiment, tmp_path):
    overrides = [f"+experiment={experiment}", f"paths.run_dir={tmp_path}"]
    if experiment == "synop_lstm":  # no SYNOP file here: one in its exact layout
        from tests.test_series_data import _write_synop

        _write_synop(tmp_path / "synop.csv", rows=200)
        overrides.append(f"data.path={tmp_path / 'synop.csv'}")
    elif experiment.startswith("bhpd_"):
        overrides.append(f"data.path={real_bhpd_csv()}")
    elif experiment.startswith("wine_"):  # no Wine Quality file here: one in its exact layout
        write_wine(tmp_path / "wine.csv")
        overrides.append(f"data.path={tmp_path / 'wine.csv'}")
    elif experiment.startswith("imdb_"):  # no IMDB here: an imdb.npz in Keras' format
        datasets = write_keras_cache(tmp_path / "datasets")
        overrides += [f"paths.datasets_dir={datasets}", f"paths.data_dir={tmp_path / 'data'}"]
    cfg = compose_train(overrides)
    OmegaConf.resolve(cfg)
    datamodule = build_datamodule(cfg)
    if datamodule.family in ("series", "tables", "text"):
        # A series' units and baseline, a table's encoded width, texts' classes come from the
        # loaded data.
        datamodule.setup("fit")
    net = build_network(cfg, datamodule.dims, "test")
    assert sum(p.numel() for p in net.parameters()) > 0
    module = build_task_module(cfg, net, datamodule)
    assert module.configure_optimizers().defaults["lr"] > 0
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    loggers = [instantiate(c) for c in cfg.logger.values()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    assert trainer.max_epochs == cfg.trainer.max_epochs
    assert trainer.checkpoint_callback.monitor == cfg.task.monitor.name


def test_gtsrb_cnn_is_fidle_gtsrb2():
    cfg = compose_train(["+experiment=gtsrb_cnn"])
    assert (cfg.model.name, cfg.data.size, cfg.data.mode) == ("cnn_v1", 24, "L")
    assert (cfg.data.batch_size, cfg.trainer.max_epochs, cfg.optimizer.lr) == (64, 5, 0.001)
    assert cfg.data.val_on_test is False and cfg.data.roi is False


def _readme_commands() -> list[list[str]]:
    """The arguments of every `python -m fidle_runs` command in the README's code blocks (not
    the ones eliding arguments with `...`), as a user types them."""
    readme = (REPO / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```bash\n")[1:]]
    commands = []
    for line in (line for block in blocks for line in block.splitlines()):
        words = shlex.split(line, comments=True)
        if "fidle_runs" in words and "..." not in words:
            commands.append(words[words.index("fidle_runs") + 1:])
    return commands


def _first_values(argument: str) -> str:
    """`model=cnn_v1,cnn_v2` -> `model=cnn_v1`, `seed=range(0,5)` -> `seed=0` (a sweep's first
    run); lists and mappings stay whole."""
    key, _, value = argument.partition("=")
    if value.startswith("range("):
        return f"{key}={value.removeprefix('range(').split(',')[0]}"
    return f"{key}={value.split(',')[0]}" if not value.startswith(("[", "{")) else argument


def _same(actual: object, written: str) -> bool:
    if OmegaConf.is_dict(actual):
        return "{" + ",".join(f"{k}:{v}" for k, v in actual.items()) + "}" == written
    if OmegaConf.is_list(actual):
        return [str(v) for v in actual] == written.strip("[]").split(",")
    if isinstance(actual, bool):
        return str(actual).lower() == written.lower()
    if isinstance(actual, int | float):
        return float(actual) == float(written)
    return str(actual) == written


README_COMMANDS = _readme_commands()


def test_the_readme_documents_commands():
    assert len(README_COMMANDS) >= 18


@pytest.mark.parametrize("arguments", README_COMMANDS, ids=" ".join)
def test_documented_overrides_work_as_written(arguments):
    """Each README command composes, and what it sets is what the run gets: groups chosen
    (experiments, models, launchers...), values set (a sweep's first value)."""
    overrides = [_first_values(a) for a in arguments if a != "-m"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    choices = cfg.hydra.runtime.choices
    for override in overrides:
        key, value = override.lstrip("+").split("=", 1)
        if "." in key:
            assert _same(OmegaConf.select(cfg, key), value), override
        elif key not in ("seed", "test"):
            assert choices[key] == value, override
        else:
            assert _same(cfg[key], value), override


def test_model_override_selects_the_backbone():
    for name in ("cnn_v1", "cnn_v2", "cnn_v3"):
        cfg = compose_train(["+experiment=gtsrb_cnn", f"model={name}"])
        assert cfg.model.name == name and cfg.model.net._target_.endswith(name)


def test_hydra_run_dir_override_is_where_the_run_goes(tmp_path):
    """A real (one-epoch, small) run launched with hydra.run.dir: its directory, checkpoints and
    result.json are there, and nothing of it is where runs go by default."""
    from fidle_runs.store.result import read_result
    from tests.conftest import run_module

    run_dir = tmp_path / "elsewhere" / "abc"
    proc = run_module("fidle_runs", "+experiment=ladybug_gru", "model=mlp", "data.scale=0.02",
                      "trainer.max_epochs=1", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = read_result(run_dir)
    assert result.status == "completed" and result.run_dir == str(run_dir.resolve())
    assert Path(result.checkpoints["best"]).parent == Path("checkpoints"), "relative to the run"
    assert checkpoint_path(run_dir, result.checkpoints["best"]).is_file()
    assert (run_dir / "config.yaml").is_file() and not (run_dir / ".hydra").exists()
    assert not (tmp_path / "outputs").exists(), "nothing in the default place"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("size", 4, "data.size=4"), ("mode", "XYZ", "data.mode='XYZ'"),
    ("batch_size", 0, "data.batch_size=0"), ("scale", 1.5, "data.scale=1.5"),
    ("source", "web", "data.source='web'"),
])
def test_datamodule_rejects_impossible_values(key, value, message):
    cfg = compose_train(["+experiment=gtsrb_cnn"])
    cfg.data[key] = value
    with pytest.raises(UserError, match=re.escape(message)):
        build(cfg.data, "data")


def test_construction_errors_name_the_config_key(tmp_path):
    cfg = compose_train(["+experiment=gtsrb_cnn", "+trainer.no_such_argument=1",
                         f"paths.run_dir={tmp_path}"])
    with pytest.raises(UserError, match=r"cannot build trainer .*no_such_argument"):
        build(cfg.trainer, "trainer")


def test_run_names_are_unique_and_follow_slurm_ids(monkeypatch):
    names = {run_name() for _ in range(200)}
    assert len(names) == 200
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert run_name() == "slurm-4242"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4240")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert run_name() == "slurm-4240_3"


def test_conf_dir_is_the_repository_conf():
    assert Path(__file__).resolve().parent.parent / "conf" == CONF_DIR


def test_help_shows_the_way_in():
    proc = subprocess.run([sys.executable, "-m", "fidle_runs", "--help"], capture_output=True,
                          text=True, timeout=120, check=True)
    for experiment in EXPERIMENTS:
        assert experiment in proc.stdout
    groups = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra")
    for group in groups:
        assert f"\n{group}: " in proc.stdout, group
    assert "model: bhpd_dnn, bhpd_dnn2, cnn_v1, cnn_v2, cnn_v3," in proc.stdout
    for command in ("fidle_runs.prepare", "fidle_runs.report", "fidle_runs.sweep_plan",
                    "fidle_runs.sweep_summary", "hydra/launcher=basic | local_parallel"):
        assert command in proc.stdout, command


@pytest.mark.parametrize(("experiment", "name", "mode", "fraction"), [
    ("gtsrb_cnn", "test_acc", "max", True),
    ("imdb_lstm", "test_f1_macro", "max", True),
    ("imdb_lstm", "test_log_loss", "min", False),
    ("bhpd_dnn", "test_r2", "max", False),
    ("bhpd_dnn", "test_rmse_medv", "min", False)])
def test_the_primary_metric_s_direction_is_the_task_s(experiment, name, mode, fraction):
    """Any score the task declares can be ranked by, its direction written once, in the task."""
    from fidle_runs.run.assemble import check_primary

    cfg = compose_train([f"+experiment={experiment}", f"task.primary.name={name}"])
    check_primary(cfg)
    assert (cfg.task.primary.mode, cfg.task.primary.fraction) == (mode, fraction)


def test_a_primary_metric_the_task_does_not_score_is_one_line():
    from fidle_runs.run.assemble import check_primary

    cfg = compose_train(["+experiment=bhpd_dnn", "task.primary.name=test_acc"])
    with pytest.raises(UserError) as refused:
        check_primary(cfg)
    assert str(refused.value) == ("task.primary.name=test_acc is no test metric of the regression "
                                  "task: choose one of test_mae, test_mse, test_rmse, test_r2, "
                                  "test_loss")
