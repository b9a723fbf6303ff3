import logging
import shutil

import pytest

from fidle_runs.core.errors import UserError
from fidle_runs.data.gtsrb.raw import read_raw_gtsrb
from fidle_runs.data.gtsrb.source import materialize, resolve_source
from fidle_runs.data.gtsrb.synthetic import class_counts, write_synthetic_gtsrb
from tests.conftest import run_as_command, run_module


def test_auto_prefers_real_data_under_fidle_datasets_dir(raw_kaggle, tmp_path):
    datasets = raw_kaggle.parent.parent  # <datasets>/GTSRB/origine
    src = resolve_source("auto", None, str(datasets), str(tmp_path / "synthetic"))
    assert src.kind == "real" and src.root == raw_kaggle


def test_auto_falls_back_to_synthetic_loudly(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        src = resolve_source("auto", None, str(tmp_path), str(tmp_path / "synthetic"), 0.05, 3)
    assert src.kind == "synthetic" and src.root.name == "fraction0.05-seed3"
    assert "TRAINING ON SYNTHETIC TRAFFIC SIGNS" in caplog.text


def test_inside_slurm_auto_refuses_synthetic_but_explicit_synthetic_is_fine(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    with pytest.raises(UserError, match="inside Slurm job 123"):
        resolve_source("auto", None, None, str(tmp_path))
    assert resolve_source("synthetic", None, None, str(tmp_path)).kind == "synthetic"


def test_explicit_raw_dir_must_hold_gtsrb(tmp_path):
    with pytest.raises(UserError, match="holds no raw GTSRB"):
        resolve_source("auto", str(tmp_path), None, str(tmp_path / "s"))


def test_raw_dir_with_a_synthetic_source_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"data.raw_dir=/data/GTSRB is not read with "
                                        r"data.source=synthetic"):
        resolve_source("synthetic", "/data/GTSRB", None, str(tmp_path / "s"))


def test_synthetic_source_is_generated_once(tmp_path):
    src = resolve_source("synthetic", None, None, str(tmp_path), 0.01, 0)
    raw = materialize(src, workers=2)
    assert raw.layout == "kaggle" and len(raw.train) == sum(class_counts(0.01)[0])
    stamp = (src.root / "Train.csv").stat().st_mtime_ns
    materialize(src, workers=2)
    assert (src.root / "Train.csv").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_download_path_uses_torchvision_and_reads_its_layout(tmp_path, monkeypatch):
    """No internet here: torchvision's GTSRB class is replaced by one that lays out the files
    exactly as its download does; everything after it is the real code path."""
    calls = []

    class OfflineGTSRB:
        def __init__(self, root: str, split: str, download: bool) -> None:
            calls.append((split, download))
            if split == "train":
                write_synthetic_gtsrb(tmp_path / "made", fraction=0.01, layout="official")
                shutil.copytree(tmp_path / "made", root, dirs_exist_ok=True)

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "GTSRB", OfflineGTSRB)
    src = resolve_source("real", None, None, str(tmp_path / "s"), download=True,
                         data_dir_for_download=str(tmp_path / "data"))
    assert src.download and src.root == tmp_path / "data" / "GTSRB-download"
    raw = materialize(src)
    assert calls == [("train", True), ("test", True)]
    assert raw.layout == "official" and len(raw.test) == sum(class_counts(0.01)[1])
    assert read_raw_gtsrb(src.root).root == raw.root


def test_prepare_command_builds_fidle_sets(tmp_path, raw_kaggle):
    proc = run_module("fidle_runs.prepare", f"data.raw_dir={raw_kaggle}", "sizes=[24]",
                      "modes=[L,RGB-HE]", f"paths.data_dir={tmp_path}", "data.prepare_workers=2",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    built = sorted(p.name for p in (tmp_path / "GTSRB" / "enhanced" / "real").glob("*.h5"))
    assert built == ["set-24x24-L.h5", "set-24x24-RGB-HE.h5"]
    assert "source images/s" in proc.stdout + proc.stderr


@pytest.mark.parametrize(("override", "message"), [
    ("modes=[XYZ]", "modes=['XYZ'] is invalid: 'XYZ' is not one of RGB,"),
    ("sizes=[0]", "sizes=[0] is invalid: 0 is not an integer >= 8"),
])
def test_prepare_command_refuses_bad_sets_before_touching_data(tmp_path, override, message):
    proc = run_module("fidle_runs.prepare", "data.source=synthetic", override,
                      f"paths.data_dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith(f"fidle_runs.prepare: error: {message}")
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("*.png")), "nothing generated"


def test_prepare_command_does_not_import_torch(tmp_path):
    """The preparation command run to its end (a synthetic set generated, then enhanced), in
    one process: neither torch nor Lightning imported on the way, imports inside functions
    included."""
    out = run_as_command("fidle_runs.prepare", [
        "data.source=synthetic", "data.synthetic_fraction=0.02", "sizes=[24]", "modes=[L]",
        f"paths.data_dir={tmp_path / 'data'}"], tmp_path)
    assert out.stdout.strip().endswith("heavy: []"), out.stderr[-3000:]
    assert list((tmp_path / "data").rglob("set-24x24-L*.h5")), "the set was prepared"
