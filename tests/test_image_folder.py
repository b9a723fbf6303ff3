"""`data=image_folder`: a user's folder of images, built here from real Fashion-MNIST test images
(fetched by scripts/fetch_test_data.sh) written in every format and mode users have (grey,
RGBA opaque and transparent, palette with transparency, 16-bit, CMYK JPEG, EXIF-rotated, WebP)
with a truncated PNG and a text file among them: it trains, the files it cannot use are named,
the prepared samples are the IDX images put through the shared resize, and a prediction names
the classes. Bad folders are one line each, with nothing prepared."""

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fidle_runs.core.errors import UserError
from fidle_runs.data.image_folder.scan import scan_folder
from fidle_runs.data.images.enhance import apply_mode, resize
from fidle_runs.data.images.image_set import ImageSetFile
from fidle_runs.data.mnist.idx import read_split
from fidle_runs.predict.__main__ import main as predict_main
from fidle_runs.run.assemble import build_datamodule
from fidle_runs.run.train import train
from tests.conftest import compose_train, run_module
from tests.real_data import real_data_dir

REPO = Path(__file__).resolve().parent.parent
CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "boot")
KINDS = ("grey", "rgba_opaque", "rgba_clear", "palette", "wide", "cmyk", "exif", "webp")
BACKGROUND = (20, 40, 60)
SIZE = 16


def real_images(per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `per_class` real Fashion-MNIST test images of each class, class by class."""
    folder = real_data_dir("fashion_mnist")
    x, y = read_split(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    rows = np.concatenate([np.flatnonzero(y == k)[:per_class] for k in range(len(CLASSES))])
    return x[rows], y[rows]


def write_image(grey: np.ndarray, kind: str, stem: Path) -> Path:
    """`grey` saved as a `kind` file; the pixels it shows are `shown(grey, kind)`."""
    if kind == "grey":
        path = stem.with_suffix(".png")
        Image.fromarray(grey).save(path)
    elif kind in ("rgba_opaque", "rgba_clear"):
        alpha = np.full_like(grey, 255) if kind == "rgba_opaque" else np.where(grey > 0, 255, 0)
        path = stem.with_suffix(".png")
        Image.fromarray(np.dstack([grey, grey, grey, alpha]).astype(np.uint8), "RGBA").save(path)
    elif kind == "palette":
        path = stem.with_suffix(".png")
        Image.fromarray(grey).convert("P").save(path, transparency=0)  # grey level 0: clear
    elif kind == "wide":
        path = stem.with_suffix(".png")
        Image.fromarray(grey.astype(np.uint16) * 257).save(path)
    elif kind == "cmyk":
        path = stem.with_suffix(".jpg")
        Image.fromarray(grey).convert("RGB").convert("CMYK").save(path, quality=95)
    elif kind == "exif":
        path = stem.with_suffix(".png")
        exif = Image.Exif()
        exif[0x0112] = 8  # "rotate 90° anticlockwise to display"
        Image.fromarray(np.ascontiguousarray(np.rot90(grey, -1))).save(path, exif=exif)
    else:
        path = stem.with_suffix(".webp")
        Image.fromarray(grey).save(path, lossless=True)
    return path


def shown(grey: np.ndarray, kind: str) -> np.ndarray:
    """The RGB image a file of `kind` shows: the IDX image, transparent pixels on BACKGROUND."""
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    if kind in ("rgba_clear", "palette"):
        rgb[grey == 0] = BACKGROUND
    return rgb


def make_folder(root: Path, images: np.ndarray, labels: np.ndarray,
                split_of: list[str]) -> dict[str, tuple[np.ndarray, str]]:
    """Images in `root/<split>/<class>/` (split "" for the class-folder layout), every kind in
    turn; returns each file's relative name -> (the RGB it shows, its kind)."""
    files = {}
    for i, (grey, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / split_of[i] / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        kind = KINDS[i % len(KINDS)]
        path = write_image(grey, kind, folder / f"img{i:04d}")
        files[path.relative_to(root).as_posix()] = (shown(grey, kind), kind)
    return files


def expected(rgb: np.ndarray, mode: str = "RGB") -> np.ndarray:
    return apply_mode(resize(rgb, SIZE), mode)


@pytest.fixture(scope="module")
def clothes(tmp_path_factory) -> tuple[Path, dict]:
    """train/ and test/ of 16 and 4 real images per class, a truncated PNG and a text file."""
    images, labels = real_images(20)
    split_of = ["test" if i % 20 >= 16 else "train" for i in range(len(labels))]
    root = tmp_path_factory.mktemp("clothes")
    files = make_folder(root, images, labels, split_of)
    cut = root / "train" / "coat" / "cut.png"
    Image.fromarray(images[0]).save(cut)
    cut.write_bytes(cut.read_bytes()[:60])
    (root / "train" / "bag" / "notes.txt").write_text("bags from the shop")
    return root, files


def overrides(root: Path, out: Path, *more: str) -> list[str]:
    return ["data=image_folder", f"data.raw_dir={root}", f"data.size={SIZE}", "model=cnn_v1",
            f"data.background=[{','.join(map(str, BACKGROUND))}]", "data.prepare_workers=2",
            "trainer.max_epochs=2", "callbacks.progress.style=lines",
            f"paths.output_root={out}", f"paths.data_dir={out / 'data'}",
            f"paths.run_dir={out / 'run'}", *more]


@pytest.fixture(scope="module")
def trained(clothes, tmp_path_factory):
    root, _ = clothes
    out = tmp_path_factory.mktemp("out")
    return train(compose_train(overrides(root, out))), out


def test_a_folder_of_every_kind_of_file_trains_and_names_what_it_skipped(clothes, trained):
    root, _ = clothes
    result, _ = trained
    assert result.status == "completed" and result.task == "classification"
    data = result.data
    assert (data["family"], data["name"], data["layout"]) == ("image_folder", root.name,
                                                              "split folders")
    assert data["shape"] == [3, SIZE, SIZE] and data["n_outputs"] == len(CLASSES)
    assert data["not_images"] == 1 and data["not_image_files"] == ["train/bag/notes.txt"]
    assert data["skipped"] == {"train": 1, "test": 0}
    assert data["skipped_files"] == ["train/coat/cut.png"]
    assert data["test_split"] == "the folder's test/"
    assert data["n_train"] + data["n_val"] == 16 * len(CLASSES) and data["n_test"] == 40
    assert data["class_counts"]["test"] == dict.fromkeys(sorted(CLASSES), 4)
    assert data["imbalance"] == pytest.approx(1.0, abs=0.2)
    saved = json.loads((Path(result.run_dir) / "result.json").read_text())
    assert saved["data"]["not_image_files"] == ["train/bag/notes.txt"]


def test_the_prepared_samples_are_the_idx_images_through_the_shared_resize(clothes, trained):
    root, files = clothes
    result, _ = trained
    prepared = ImageSetFile(Path(result.data["file"]))
    assert prepared.class_names == sorted(CLASSES)
    scan = scan_folder(root)
    for split in ("train", "test"):
        names = [n for n in scan.splits[split].files if n != "train/coat/cut.png"]
        images = prepared.images(split)
        assert len(images) == len(names)
        assert prepared.labels(split).tolist() == [sorted(CLASSES).index(n.split("/")[1])
                                                   for n in names]
        for name, image in zip(names, images, strict=True):
            want, kind = files[name]
            if kind == "cmyk":  # JPEG is lossy
                assert np.abs(image.astype(int) - expected(want)).mean() < 3, name
            else:
                assert np.array_equal(image, expected(want)), name


def test_a_prediction_reads_png_and_webp_and_names_the_classes(clothes, trained, tmp_path,
                                                               capsys):
    result, _ = trained
    images, _ = real_images(1)
    png, webp = tmp_path / "boot.png", tmp_path / "bag.webp"
    Image.fromarray(images[9]).save(png)
    Image.fromarray(images[8]).save(webp, lossless=True)
    predict_main([result.run_dir, str(png), str(webp), "--json"])
    records = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in records] == ["boot.png", "bag.webp"]
    assert all(r["class"] in CLASSES and r["class"] == sorted(CLASSES)[r["class_id"]]
               for r in records)


def test_without_test_folder_test_is_a_seeded_stratified_share_prepared_once(tmp_path, caplog):
    images, labels = real_images(5)
    root = tmp_path / "flat"
    files = make_folder(root, images, labels, [""] * len(labels))

    def prepared(*more: str) -> Path:
        datamodule = build_datamodule(compose_train(overrides(root, tmp_path, "data.mode=L",
                                                              *more)))
        datamodule.setup("fit")
        return Path(datamodule.describe()["file"])

    caplog.set_level(logging.INFO)
    first = prepared()
    f = ImageSetFile(first)
    assert f.attrs["layout"] == "class folders"
    assert np.bincount(f.labels("test")).tolist() == [1] * len(CLASSES)
    assert np.bincount(f.labels("train")).tolist() == [4] * len(CLASSES)
    names = list(files)
    wanted = np.stack([expected(files[name][0], "L") for name in names]).astype(int)

    def sources(split: str) -> set[str]:
        """The file each prepared image comes from (the nearest: CMYK JPEG is lossy)."""
        return {names[int(np.abs(wanted - x).mean(axis=(1, 2, 3)).argmin())]
                for x in f.images(split)}

    tested, trained_on = sources("test"), sources("train")
    assert not tested & trained_on and len(tested | trained_on) == len(files)
    built = first.stat().st_mtime_ns
    assert prepared() == first and first.stat().st_mtime_ns == built  # reused as is
    assert "10 classes, train 40 (4 to 4 per class, imbalance 1.00), test 10" in caplog.text
    other_draw = prepared("data.test_seed=1")
    assert other_draw != first and other_draw.exists()
    moved = root / CLASSES[0] / "img0000.png"
    moved.rename(root / CLASSES[1] / "img0000.png")
    assert prepared() not in (first, other_draw)


def write_tree(root: Path, tree: dict[str, int]) -> Path:
    """`tree`: folder -> how many real images it holds (0: an empty folder)."""
    images, _ = real_images(1)
    for folder, n in tree.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(images[i]).save(root / folder / f"{i}.png")
    return root


TWO = {"tshirt": 2, "bag": 2}


def test_the_folders_own_val_validates(tmp_path):
    root = write_tree(tmp_path / "mine", {"train/tshirt": 3, "train/bag": 4, "val/tshirt": 1,
                                          "val/bag": 2, "test/tshirt": 1, "test/bag": 1})
    datamodule = build_datamodule(compose_train(overrides(root, tmp_path)))
    datamodule.setup("fit")
    info = datamodule.describe()
    assert (info["n_train"], info["n_val"], info["n_test"]) == (7, 3, 2)
    assert info["val_split"] == "the data's own val split"
    assert info["class_counts"]["val"] == {"bag": 2, "tshirt": 1}
    assert info["imbalance"] == pytest.approx(4 / 3, abs=1e-3)


@pytest.mark.parametrize(("tree", "extra", "match"), [
    ({"tshirt": 2, "bag": 0}, None, r"class folder .*/bag holds no image file: put that "
                                    r"class's train images there"),
    ({"tshirt": 3}, None, r"holds one class only \(tshirt/\): a classification needs"),
    ({"train/tshirt": 2, "train/bag": 2, "test/tshirt": 1, "test/boot": 1}, None,
     r"test/boot is a class that train/ lacks: add its training images in .*/train/boot/"),
    ({"tshirt": 0, "bag": 0}, "tshirt/readme.txt", r"holds no image file \(PNG, JPEG.*\) "
                                                   r"\(only 1 other files, e.g. readme.txt\)"),
    ({}, "loose.png", r"holds 1 image files but no class folder: move each image into"),
    ({"test/tshirt": 1, "test/bag": 1}, None, r"has test/ but no train/"),
    ({**TWO, "train/bag": 1}, None, r"mixes the split folders train/ .* with bag/"),
    (TWO, "bag/notes.txt", r"1 file\(s\) that are not images, e.g. bag/notes.txt .*: remove "
                           r"them, or set data.unreadable=skip"),
    (TWO, "bag/cut.png", r"1 (train|test) image\(s\) cannot be decoded, e.g. bag/cut.png"),
])
def test_bad_folders_are_one_line_and_prepare_nothing(tmp_path, tree, extra, match):
    root = write_tree(tmp_path / "mine", tree)
    if extra:
        (root / extra).parent.mkdir(parents=True, exist_ok=True)
        (root / extra).write_bytes(b"\x89PNG\r\n\x1a\n cut short" if extra.endswith(".png")
                                   else b"some text")
    datamodule = build_datamodule(compose_train(overrides(root, tmp_path,
                                                          "data.unreadable=refuse")))
    with pytest.raises(UserError, match=match) as e:
        datamodule.prepare_data()
    assert "\n" not in str(e.value)
    assert not list((tmp_path / "data").rglob("*.h5"))


@pytest.mark.parametrize(("option", "match"), [
    ("data.test_fraction=0", r"data.test_fraction=0 is invalid: it must be in \(0, 1\)"),
    ("data.raw_dir=/nowhere/pets", r"data.raw_dir=/nowhere/pets is not a folder"),
])
def test_bad_options_are_one_line(tmp_path, option, match):
    root = write_tree(tmp_path / "mine", TWO)
    with pytest.raises(UserError, match=match):
        build_datamodule(compose_train(overrides(root, tmp_path, option))).prepare_data()


def test_the_command_line_refuses_a_bad_folder_and_a_size_too_small_in_one_line(tmp_path):
    root = write_tree(tmp_path / "mine", {"tshirt": 2})
    proc = run_module("fidle_runs", *overrides(root, tmp_path), cwd=REPO)
    assert proc.returncode != 0
    assert re.fullmatch(r"fidle_runs: error: .*holds one class only \(tshirt/\).*\n",
                        proc.stderr.splitlines(keepends=True)[-1])
    # Refused before anything is written: no run folder content, no prepared data.
    assert not list((tmp_path / "run").glob("*")) and not (tmp_path / "data").exists()
    write_tree(root, {"bag": 2})
    proc = run_module("fidle_runs", *overrides(root, tmp_path, "model=cnn_v2", "data.size=8"),
                      cwd=REPO)
    assert proc.returncode != 0
    assert re.fullmatch(r"fidle_runs: error: model=cnn_v2 cannot take mine samples of shape "
                        r"\(3, 8, 8\).*too small.*\n", proc.stderr.splitlines(keepends=True)[-1])
    assert not list((tmp_path / "run").glob("*")) and not (tmp_path / "data").exists()
