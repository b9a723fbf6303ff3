"""The prepared image set (fidle_runs.data.images.image_set): what is written equals the shared
resize and mode applied to each image, unreadable images are skipped and named or refused with
nothing left behind, an existing set is reused, and the stratified split keeps each class's
share."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fidle_runs.core.errors import UserError
from fidle_runs.data.images.enhance import SetSpec, apply_mode, resize
from fidle_runs.data.images.image_set import ImageSetFile, SplitItems, prepare_image_set
from fidle_runs.data.subsets import stratified_split


def _arrays(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (20 + i % 3, 18, 3), dtype=np.uint8) for i in range(n)]


def _items(images: list, labels: list[int]) -> SplitItems:
    return SplitItems(images, np.asarray(labels), [f"item{i}" for i in range(len(labels))])


def test_written_images_are_the_shared_resize_and_mode_of_each_item(tmp_path: Path) -> None:
    train, test = _arrays(7, 0), _arrays(3, 1)
    path = tmp_path / "set.h5"
    spec = SetSpec(12, "L")
    prepare_image_set(path, {"train": _items(train, [0, 1, 2, 0, 1, 2, 0]),
                             "test": _items(test, [2, 1, 0])}, spec, ["a", "b", "c"],
                      {"origin": "arrays"}, workers=1)
    f = ImageSetFile(path)
    assert f.class_names == ["a", "b", "c"] and f.splits == ("train", "test")
    assert f.attrs["origin"] == "arrays" and f.attrs["size"] == 12 and f.attrs["mode"] == "L"
    assert f.labels("train").tolist() == [0, 1, 2, 0, 1, 2, 0]
    expected = np.stack([apply_mode(resize(a, 12), "L") for a in train])
    np.testing.assert_array_equal(f.images("train"), expected)
    np.testing.assert_array_equal(f.rows("train", [5, 1]), expected[[5, 1]])
    assert f.image_bytes == 10 * 12 * 12


def _files(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(_arrays(n, 2)):
        paths.append(folder / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    return paths


def test_an_unreadable_image_is_skipped_and_named_with_its_label_dropped(tmp_path: Path) -> None:
    paths = _files(tmp_path / "raw", 6)
    paths[2].write_bytes(paths[2].read_bytes()[:40])  # truncated PNG
    path = tmp_path / "set.h5"
    prepare_image_set(path, {"train": SplitItems(paths, np.array([0, 1, 1, 0, 1, 0]),
                                                 [p.name for p in paths]),
                             "test": _items(_arrays(2, 3), [0, 1])},
                      SetSpec(8, "RGB"), ["x", "y"], {}, workers=1)
    f = ImageSetFile(path)
    assert f.labels("train").tolist() == [0, 1, 0, 1, 0]
    assert [name for name, _ in f.skipped["train"]] == ["2.png"]
    reason = f.skipped["train"][0][1]
    assert reason.startswith("cannot identify image file")  # PIL's words, without our fix
    kept = [p for i, p in enumerate(paths) if i != 2]
    expected = [apply_mode(resize(np.asarray(Image.open(p).convert("RGB")), 8), "RGB")
                for p in kept]
    np.testing.assert_array_equal(f.images("train"), np.stack(expected))


def test_refused_unreadable_images_leave_nothing_written(tmp_path: Path) -> None:
    paths = _files(tmp_path / "raw", 3)
    paths[1].write_text("not an image")
    path = tmp_path / "out" / "set.h5"
    with pytest.raises(UserError, match=r"1 train image\(s\) cannot be decoded, e\.g\. 1\.png"):
        prepare_image_set(path, {"train": SplitItems(paths, np.array([0, 1, 0]),
                                                     [p.name for p in paths]),
                                 "test": _items(_arrays(2, 3), [0, 1])},
                          SetSpec(8, "RGB"), ["x", "y"], {}, workers=1, unreadable="refuse")
    assert [p.name for p in path.parent.iterdir()] == [".prepare.lock"]


def test_a_class_left_without_train_images_is_refused(tmp_path: Path) -> None:
    paths = _files(tmp_path / "raw", 3)
    paths[1].write_text("not an image")
    path = tmp_path / "set.h5"
    with pytest.raises(UserError, match="class 'y' has no readable train image"):
        prepare_image_set(path, {"train": SplitItems(paths, np.array([0, 1, 0]),
                                                     [p.name for p in paths]),
                                 "test": _items(_arrays(2, 3), [0, 1])},
                          SetSpec(8, "RGB"), ["x", "y"], {}, workers=1)
    assert not path.exists()


def test_an_existing_set_is_reused_not_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "set.h5"
    splits = {"train": _items(_arrays(4, 0), [0, 1, 0, 1]), "test": _items(_arrays(2, 1), [0, 1])}
    prepare_image_set(path, splits, SetSpec(8, "RGB"), ["x", "y"], {}, workers=1)
    before = path.stat().st_mtime_ns
    prepare_image_set(path, splits, SetSpec(8, "RGB"), ["x", "y"], {}, workers=1)
    assert path.stat().st_mtime_ns == before
    assert json.loads(ImageSetFile(path).attrs["skipped"]) == {"train": [], "test": []}


def test_stratified_split_takes_each_classs_share_and_leaves_every_class_some() -> None:
    labels = np.repeat([0, 1, 2, 3], [100, 50, 10, 1])
    chosen = stratified_split(labels, 0.2, seed=4)
    assert np.bincount(labels[chosen], minlength=4).tolist() == [20, 10, 2, 0]
    assert (np.diff(chosen) > 0).all()
    np.testing.assert_array_equal(chosen, stratified_split(labels, 0.2, seed=4))
    assert not np.array_equal(chosen, stratified_split(labels, 0.2, seed=5))
    assert np.bincount(labels[stratified_split(labels, 0.01, 0)], minlength=4).tolist() == \
        [1, 1, 1, 0]
