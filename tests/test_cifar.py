"""The CIFAR family on files generated here in the four exact layouts the CIFAR page distributes
(no CIFAR file can be downloaded on a test machine): Python 2 pickles and binary records of
CIFAR-10 and CIFAR-100, extracted or in their archives; every image and label where it belongs,
the search path and its one-line error, pickles that would run code refused, damaged files
named; one real run trained, evaluated and asked to predict a PNG."""

import io
import json
import os
import pickle
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from PIL import Image

from fidle_runs.core.errors import UserError
from fidle_runs.data.cifar.layouts import find
from fidle_runs.data.cifar.read import read_cifar
from fidle_runs.data.images.image_set import ImageSetFile
from fidle_runs.run.assemble import build_datamodule
from tests.conftest import compose_train, run_module

PER_BATCH = 50  # CIFAR's batches hold 10,000 images
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]
FINE = [f"fine_{k:02d}" for k in range(100)]
COARSE = [f"coarse_{k:02d}" for k in range(20)]
LAYOUTS = [("cifar10", "python"), ("cifar10", "binary"), ("cifar100", "python"),
           ("cifar100", "binary")]


class Python2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote CIFAR's files: text as byte strings (SHORT_BINSTRING,
    BINSTRING), protocol 2, numpy's reconstruction under its numpy 1 name (set in
    `py2_pickle`)."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_byte_string(self, obj: str | bytes) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_byte_string
    dispatch[bytes] = save_byte_string


def py2_pickle(obj: object) -> bytes:
    out = io.BytesIO()
    Python2Pickler(out, protocol=2).dump(obj)
    return out.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


@dataclass
class Batch:
    """One generated batch: channel-major rows as CIFAR stores them, fine and coarse labels."""

    rows: np.ndarray
    fine: np.ndarray
    coarse: np.ndarray

    @property
    def images(self) -> np.ndarray:
        return self.rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def make_batch(labels: np.ndarray, rng: np.random.Generator) -> Batch:
    """Random images, each class around its own colour (learnable, and every image distinct)."""
    colours = np.random.default_rng(7).integers(30, 226, size=(100, 3, 1, 1))
    noise = rng.integers(-30, 31, size=(len(labels), 3, 32, 32))
    images = np.clip(colours[labels] + noise, 0, 255).astype(np.uint8)
    return Batch(images.reshape(len(labels), -1), labels, labels // 5)


@dataclass
class Written:
    """A layout written: its folder, train and test batches in file order, class names."""

    folder: Path
    train: list[Batch]
    test: list[Batch]
    names: list[str]

    def expected(self, split: str, coarse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        batches = self.train if split == "train" else self.test
        return (np.concatenate([b.images for b in batches]),
                np.concatenate([b.coarse if coarse else b.fine for b in batches]))


def write_layout(root: Path, dataset: str, kind: str, seed: int = 0) -> Written:
    """`dataset` in its `kind` layout under `root`, as the CIFAR page's archives extract."""
    rng = np.random.default_rng(seed)
    if dataset == "cifar10":
        train = [make_batch(rng.integers(0, 10, PER_BATCH), rng) for _ in range(5)]
        test = [make_batch(rng.integers(0, 10, PER_BATCH), rng)]
        names = CIFAR10_CLASSES
    else:  # every fine class in train (a class without a train image is refused)
        train = [make_batch(rng.permutation(np.tile(np.arange(100), 2)), rng)]
        test = [make_batch(rng.integers(0, 100, PER_BATCH), rng)]
        names = FINE
    folder = root / {("cifar10", "python"): "cifar-10-batches-py",
                     ("cifar10", "binary"): "cifar-10-batches-bin",
                     ("cifar100", "python"): "cifar-100-python",
                     ("cifar100", "binary"): "cifar-100-binary"}[dataset, kind]
    folder.mkdir(parents=True)
    if dataset == "cifar10":
        files = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    else:
        files = ["train", "test"]
    for name, batch in zip(files, train + test, strict=True):
        if kind == "binary":
            labels = (batch.fine[:, None] if dataset == "cifar10"
                      else np.stack([batch.coarse, batch.fine], axis=1))
            (folder / f"{name}.bin").write_bytes(
                np.concatenate([labels.astype(np.uint8), batch.rows], axis=1).tobytes())
        elif dataset == "cifar10":
            (folder / name).write_bytes(py2_pickle({
                "batch_label": f"{name} of 6", "labels": batch.fine.tolist(),
                "data": batch.rows, "filenames": [f"{name}_{i}.png" for i in range(PER_BATCH)]}))
        else:
            (folder / name).write_bytes(py2_pickle({
                "filenames": [f"{name}_{i}.png" for i in range(len(batch.fine))],
                "batch_label": f"{name} batch", "fine_labels": batch.fine.tolist(),
                "coarse_labels": batch.coarse.tolist(), "data": batch.rows}))
    if (dataset, kind) == ("cifar10", "python"):
        (folder / "batches.meta").write_bytes(py2_pickle(
            {"num_cases_per_batch": 10000, "label_names": names, "num_vis": 3072}))
    elif (dataset, kind) == ("cifar10", "binary"):
        (folder / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    elif kind == "python":
        (folder / "meta").write_bytes(py2_pickle(
            {"fine_label_names": FINE, "coarse_label_names": COARSE}))
    else:
        (folder / "fine_label_names.txt").write_text("\n".join(FINE) + "\n")
        (folder / "coarse_label_names.txt").write_text("\n".join(COARSE) + "\n")
    return Written(folder, train, test, names)


def archive(written: Written, name: str) -> Path:
    """The layout folder packed as the CIFAR page's archive, beside it; the folder removed."""
    path = written.folder.parent / name
    with tarfile.open(path, "w:gz") as tar:
        tar.add(written.folder, arcname=written.folder.name)
    for file in written.folder.iterdir():
        file.unlink()
    written.folder.rmdir()
    return path


@pytest.mark.parametrize(("dataset", "kind"), LAYOUTS)
def test_each_layout_reads_every_image_and_label_where_it_was_written(tmp_path, dataset, kind):
    written = write_layout(tmp_path, dataset, kind)
    found = find(dataset, str(tmp_path), [])
    assert (found.path, found.layout.kind, found.in_archive) == (written.folder, kind, False)
    data = read_cifar(found)
    assert data.class_names == written.names
    for split in ("train", "test"):
        images, labels = written.expected(split)
        part = getattr(data, split)
        assert part.images.shape == (len(labels), 32, 32, 3) and part.images.dtype == np.uint8
        np.testing.assert_array_equal(part.images, images)
        np.testing.assert_array_equal(part.labels, labels)
    first = "data_batch_1" if dataset == "cifar10" else "train"
    assert data.train.names[:2] == [f"{first}{'.bin' * (kind == 'binary')}[{i}]" for i in (0, 1)]
    if dataset == "cifar100":
        coarse = read_cifar(found, "coarse")
        assert coarse.class_names == COARSE
        np.testing.assert_array_equal(coarse.train.labels, written.expected("train", True)[1])
        np.testing.assert_array_equal(coarse.test.images, written.expected("test")[0])


@pytest.mark.parametrize(("dataset", "kind"), LAYOUTS)
def test_the_prepared_set_at_32_rgb_holds_exactly_the_written_images(tmp_path, dataset, kind):
    written = write_layout(tmp_path / "raw", dataset, kind)
    coarse = dataset == "cifar100" and kind == "binary"
    datamodule = build_datamodule(compose_train([
        f"data={dataset}", f"data.raw_dir={written.folder}", "data.prepare_workers=1",
        f"paths.data_dir={tmp_path / 'data'}", *(["data.labels=coarse"] * coarse)]))
    datamodule.setup("fit")
    size = "-coarse" * coarse + "-32x32-RGB"
    assert datamodule.name == dataset + size
    stored = ImageSetFile(datamodule.data_file)
    for split in ("train", "test"):
        images, labels = written.expected(split, coarse)
        np.testing.assert_array_equal(stored.images(split), images)
        np.testing.assert_array_equal(stored.labels(split), labels)
    assert datamodule.class_names == (COARSE if coarse else written.names)
    info = datamodule.describe()
    assert (info["family"], info["shape"]) == ("cifar", [3, 32, 32])
    assert info["origin"] == (f"{'CIFAR-10' if dataset == 'cifar10' else 'CIFAR-100'} ({kind} "
                              f"layout) from {written.folder}")
    assert info["n_test"] == len(written.expected("test")[1])


@pytest.mark.parametrize(("dataset", "kind", "name"), [
    ("cifar10", "python", "cifar-10-python.tar.gz"),
    ("cifar100", "binary", "cifar-100-binary.tar.gz"),
])
def test_an_unextracted_archive_is_read_in_place(tmp_path, dataset, kind, name):
    written = write_layout(tmp_path, dataset, kind)
    path = archive(written, name)
    found = find(dataset, str(tmp_path), [])
    assert (found.path, found.in_archive) == (path, True)
    data = read_cifar(found)
    assert data.class_names == written.names
    np.testing.assert_array_equal(data.train.images, written.expected("train")[0])
    np.testing.assert_array_equal(data.test.labels, written.expected("test")[1])


def search(monkeypatch, tmp_path, *overrides: str, **env: Path) -> tuple[Path, str]:
    """Where data=cifar10 finds CIFAR-10 with these environment variables and overrides."""
    for var in ("FIDLE_DATASETS_DIR", "DSDIR"):
        if var in env:
            monkeypatch.setenv(var, str(env[var]))
        else:
            monkeypatch.delenv(var, raising=False)
    data = compose_train(["data=cifar10", *overrides]).data
    found = find(data.dataset, data.raw_dir, list(data.search_dirs))
    return found.path, found.layout.kind


def test_the_search_path_is_raw_dir_else_fidle_datasets_dir_then_dsdir(tmp_path, monkeypatch):
    shared = write_layout(tmp_path / "dsdir" / "cifar10", "cifar10", "binary").folder
    assert search(monkeypatch, tmp_path, DSDIR=tmp_path / "dsdir") == (shared, "binary")
    fidle = write_layout(tmp_path / "fidle" / "CIFAR-10", "cifar10", "python").folder
    assert search(monkeypatch, tmp_path, FIDLE_DATASETS_DIR=tmp_path / "fidle",
                  DSDIR=tmp_path / "dsdir") == (fidle, "python")
    mine = write_layout(tmp_path / "mine", "cifar10", "binary").folder
    for raw_dir in (mine, mine.parent):
        assert search(monkeypatch, tmp_path, f"data.raw_dir={raw_dir}",
                      FIDLE_DATASETS_DIR=tmp_path / "fidle") == (mine, "binary")
    cache = write_layout(tmp_path / "keras" / "keras_cache", "cifar10", "python").folder
    assert search(monkeypatch, tmp_path, FIDLE_DATASETS_DIR=tmp_path / "keras") == \
        (cache, "python")


def test_nothing_found_is_one_line_naming_every_folder_looked_in(tmp_path, monkeypatch):
    empty, partial = tmp_path / "empty", tmp_path / "partial"
    empty.mkdir()
    (write_layout(partial, "cifar10", "python").folder / "test_batch").unlink()
    with pytest.raises(UserError) as failure:
        search(monkeypatch, tmp_path, FIDLE_DATASETS_DIR=empty, DSDIR=partial)
    subfolders = ("CIFAR-10", "cifar10", "cifar-10", "torch_cache", "keras_cache")
    looked = [f"{empty} (no cifar-10-batches-py/, cifar-10-batches-bin/, cifar-10-python.tar.gz "
              "or cifar-10-binary.tar.gz)",
              *(f"{empty / sub} (no such folder)" for sub in subfolders),
              f"{partial} (cifar-10-batches-py/ lacks test_batch)",
              *(f"{partial / sub} (no such folder)" for sub in subfolders)]
    assert str(failure.value) == (
        f"no CIFAR-10 found (looked in: {'; '.join(looked)}): set data.raw_dir to the folder "
        "holding cifar-10-batches-py/ or cifar-10-batches-bin/ (or their archives "
        "cifar-10-python.tar.gz, cifar-10-binary.tar.gz from "
        "https://www.cs.toronto.edu/~kriz/cifar.html), or put it under $FIDLE_DATASETS_DIR")
    with pytest.raises(UserError, match=r"^no CIFAR-10 found \(looked in: nowhere: "
                                        r"data.raw_dir is unset and so is every"):
        search(monkeypatch, tmp_path)


class RunsACommand:
    """What a hostile pickle holds: loading it would call os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    written = write_layout(tmp_path, "cifar10", "python")
    marker = tmp_path / "ran"
    batch = written.folder / "data_batch_3"
    batch.write_bytes(pickle.dumps({"data": RunsACommand(marker), "labels": []}, protocol=2))
    with pytest.raises(UserError) as failure:
        read_cifar(find("cifar10", str(tmp_path), []))
    assert str(failure.value) == (
        f"{batch} is no CIFAR file: its pickle would call {os.system.__module__}.system, which "
        "CIFAR's files never do (refused, as a pickle can run any code): replace it with the "
        "original file (https://www.cs.toronto.edu/~kriz/cifar.html)")
    assert not marker.exists()


def test_a_python_3_resave_of_a_batch_is_read_too(tmp_path):
    written = write_layout(tmp_path, "cifar10", "python")
    batch = written.train[1]
    (written.folder / "data_batch_2").write_bytes(pickle.dumps(
        {b"data": batch.rows, b"labels": batch.fine.tolist()}, protocol=pickle.HIGHEST_PROTOCOL))
    data = read_cifar(find("cifar10", str(tmp_path), []))
    np.testing.assert_array_equal(data.train.images, written.expected("train")[0])


@pytest.mark.parametrize(("kind", "name", "why"), [
    ("python", "data_batch_2", "truncated or damaged (pickle data was truncated)"),
    ("binary", "data_batch_2.bin", "truncated or no CIFAR binary batch (152650 bytes, not a "
                                   "whole number of 3073-byte records)"),
])
def test_a_truncated_batch_is_one_line_naming_it(tmp_path, kind, name, why):
    written = write_layout(tmp_path, "cifar10", kind)
    path = written.folder / name
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(UserError) as failure:
        read_cifar(find("cifar10", str(tmp_path), []))
    assert str(failure.value) == (f"{path} is {why}: replace it with the original file "
                                  "(https://www.cs.toronto.edu/~kriz/cifar.html)")


def test_a_truncated_archive_is_one_line_naming_it(tmp_path):
    path = archive(write_layout(tmp_path, "cifar10", "binary"), "cifar-10-binary.tar.gz")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(UserError, match=rf"^cannot read the archive {path} \(.+\): it is "
                                        "truncated or damaged; download it again from https"):
        read_cifar(find("cifar10", str(tmp_path), []))


def test_labels_are_cifar100s_choice(tmp_path):
    with pytest.raises(UserError) as failure:
        build_datamodule(compose_train(["data=cifar10", "+data.labels=coarse"]))
    assert str(failure.value) == ("data.labels='coarse' is invalid: it must be left out: cifar10 "
                                  "has one set of labels (fine|coarse is cifar100's)")
    with pytest.raises(UserError, match=r"^data.labels='both' is invalid: it must be fine \| "):
        build_datamodule(compose_train(["data=cifar100", "data.labels=both"]))


def test_a_cifar10_run_trains_evaluates_and_predicts_a_png(tmp_path, capsys):
    from fidle_runs.evaluate.__main__ import main as evaluate
    from fidle_runs.predict.__main__ import main as predict
    from fidle_runs.report.__main__ import main as report
    from fidle_runs.run.rebuild import load_run

    written = write_layout(tmp_path / "datasets" / "CIFAR-10", "cifar10", "python")
    run_dir = tmp_path / "run"
    proc = run_module("fidle_runs", "data=cifar10", "model=cnn_v2", "data.size=32",
                      "data.mode=RGB", "data.prepare_workers=1", "trainer.max_epochs=2",
                      "callbacks.progress.style=lines", f"hydra.run.dir={run_dir}",
                      cwd=tmp_path, env={"FIDLE_DATASETS_DIR": str(tmp_path / "datasets")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "completed" and result["epochs"] == 2
    data = result["data"]
    assert (data["name"], data["family"], data["n_outputs"]) == ("cifar10-32x32-RGB", "cifar", 10)
    assert (data["n_train"] + data["n_val"], data["n_test"]) == (5 * PER_BATCH, PER_BATCH)
    assert data["origin"] == f"CIFAR-10 (python layout) from {written.folder}"

    evaluate([str(run_dir), "--splits", "test", "--json"])
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["splits"]["test"]["test_acc"] == pytest.approx(result["metrics"]["test_acc"])
    report([str(run_dir), "--out", str(tmp_path / "report")])
    assert capsys.readouterr().out.startswith("1 run")
    page = (tmp_path / "report" / "report.html").read_text()
    assert "cifar10-32x32-RGB" in page and "automobile" in page, "the per-class analysis"

    _, run = load_run(run_dir, load_data=True)
    stored = run.datamodule.tensors["test"][0][:1]
    with torch.inference_mode():
        expected = int(run.task(run.datamodule.network_input(stored)).argmax())
    png = tmp_path / "picture.png"
    Image.fromarray(written.expected("test")[0][0]).save(png)
    predict([str(run_dir), str(png), "--json"])
    [record] = json.loads(capsys.readouterr().out)
    assert (record["input"], record["class_id"]) == ("picture.png", expected)
    assert record["class"] == CIFAR10_CLASSES[expected]
