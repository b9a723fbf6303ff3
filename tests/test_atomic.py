"""atomic.replacing: a target only ever seen whole, the old one kept when the write fails, no
temporary left behind, for files and folders alike."""

import os

import pytest

from fidle_runs.core import atomic


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_the_target_appears_only_complete(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with atomic.replacing(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        with open(tmp, "w") as f:
            f.write("new, ")
            f.flush()
            assert target.read_text() == "old"  # half written: the old content is read
            f.write("whole")
        assert target.read_text() == "old"
    assert target.read_text() == "new, whole"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fsync", [False, True])
def test_an_exception_keeps_the_old_target_and_no_temporary(tmp_path, fsync):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="killed"), atomic.replacing(target, fsync) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "images"
    with atomic.replacing(target) as tmp:
        (tmp / "class0").mkdir(parents=True)
        (tmp / "class0" / "a.png").write_bytes(b"png")
        assert not target.exists()
    assert (target / "class0" / "a.png").read_bytes() == b"png"
    with pytest.raises(OSError), atomic.replacing(target) as tmp:
        (tmp / "class1").mkdir(parents=True)
        raise OSError("disk full")
    assert sorted(p.name for p in target.iterdir()) == ["class0"]
    assert leftovers(tmp_path) == []


def test_one_subfolder_of_the_temporary_becomes_the_target(tmp_path):
    target = tmp_path / "aclImdb"
    with atomic.replacing(target, subfolder="aclImdb") as tmp:
        (tmp / "aclImdb" / "train").mkdir(parents=True)
        (tmp / "README").write_text("not kept")
    assert [p.name for p in target.iterdir()] == ["train"]
    assert leftovers(tmp_path) == []


def test_a_failed_rename_leaves_no_temporary(tmp_path):
    target = tmp_path / "full"
    target.mkdir()
    (target / "kept").write_text("a folder cannot be replaced by a file")
    with pytest.raises(OSError), atomic.replacing(target) as tmp:
        tmp.write_text("file")
    assert (target / "kept").is_file()
    assert leftovers(tmp_path) == []


def test_the_temporary_can_keep_the_suffix(tmp_path):
    with atomic.replacing(tmp_path / "model.onnx", keep_suffix=True) as tmp:
        assert tmp.suffix == ".onnx" and tmp.name == f".model.tmp-{os.getpid()}.onnx"
        tmp.write_bytes(b"onnx")
    assert (tmp_path / "model.onnx").read_bytes() == b"onnx"


def test_write_text_replaces_whole(tmp_path):
    target = tmp_path / "sub" / "config.yaml"
    atomic.write_text(target, "a: 1\n")
    atomic.write_text(target, "a: 2\n")
    assert target.read_text() == "a: 2\n"
    assert leftovers(target.parent) == []
