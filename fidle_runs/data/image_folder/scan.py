"""A folder of images in torchvision's ImageFolder layout, listed and checked before anything is
decoded: `<root>/<class>/*` or `<root>/{train,val,test}/<class>/*` (val/ and test/ optional).

The class names are train's folder names, sorted; a class folder's images are every file under
it (sub-folders included), sorted by path. Hidden entries (`.DS_Store`, `.ipynb_checkpoints/`)
are ignored; any other file that is no image by its extension is skipped and named, or refused
(`data.unreadable`); files beside the class folders are no class's and ignored. Every layout
mistake is one line naming the folder and the fix."""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.data.images.decode import IMAGE_SUFFIXES, is_image_file

log = logging.getLogger(__name__)

SPLIT_FOLDERS = ("train", "val", "test")
# How many skipped files the log names before it says "and N more".
NAMED_IN_LOG = 10
FORMATS = "PNG, JPEG, PPM, BMP, WebP, TIFF, GIF"


@dataclass
class FolderSplit:
    """One split's image files (relative to the root, in class then path order) and class ids."""

    files: list[str]
    labels: np.ndarray


@dataclass
class FolderScan:
    """What the folder holds: its layout ("class folders" or "split folders"), the classes, the
    splits it has (train always; val and test where it has those folders) and the files that
    are no images (relative names)."""

    root: Path
    layout: str
    class_names: list[str]
    splits: dict[str, FolderSplit]
    not_images: list[str] = field(default_factory=list)


def scan_folder(raw_dir: str | Path, unreadable: str = "skip") -> FolderScan:
    """List and check the folder at `raw_dir` (see the module's docstring)."""
    root = Path(raw_dir).expanduser()
    if not root.is_dir():
        raise UserError(f"data.raw_dir={raw_dir} is not a folder: point it at a folder holding "
                        "one sub-folder of images per class (<root>/<class>/*.png)")
    split_roots = _split_roots(root)
    listings = {split: _class_listing(folder) for split, folder in split_roots.items()}
    class_names = _check_train(split_roots["train"], listings["train"])
    for split in ("val", "test"):
        if split in listings:
            _check_other(split_roots[split], listings[split], class_names)
    not_images = sorted(name for listing in listings.values() for _, others in listing.values()
                        for name in _relative(others, root))
    _skip_or_refuse(root, not_images, unreadable)
    splits = {split: _split(listing, class_names, root) for split, listing in listings.items()}
    layout = "class folders" if split_roots["train"] == root else "split folders"
    return FolderScan(root, layout, class_names, splits, not_images)


def _split_roots(root: Path) -> dict[str, Path]:
    """train (and val, test) -> the folder holding its class folders."""
    folders = _visible_dirs(root)
    named = [d for d in folders if d.name in SPLIT_FOLDERS]
    if not named:
        return {"train": root}
    if not (root / "train").is_dir():
        raise UserError(f"{root} has {'/, '.join(d.name for d in named)}/ but no train/: put "
                        f"the training images in {root}/train/<class>/, or every image in "
                        f"{root}/<class>/ to have test carved out (data.test_fraction)")
    others = [d for d in folders if d.name not in SPLIT_FOLDERS]
    if others:
        raise UserError(f"{root} mixes the split folders train/ (val/, test/) with "
                        f"{others[0].name}/: move {others[0].name}/ into train/ as a class, or "
                        f"out of {root}")
    return {d.name: d for d in named}


def _class_listing(folder: Path) -> dict[str, tuple[list[Path], list[Path]]]:
    """Each class folder of `folder` -> its image files and its other files, sorted."""
    listing = {}
    for class_dir in _visible_dirs(folder):
        files = _files_under(class_dir)
        listing[class_dir.name] = ([f for f in files if is_image_file(f)],
                                   [f for f in files if not is_image_file(f)])
    return listing


def _check_train(folder: Path, listing: dict[str, tuple[list[Path], list[Path]]]) -> list[str]:
    """The class names, once train is a classification's: images in at least two classes,
    none of its class folders without one."""
    if not any(images for images, _ in listing.values()):
        loose = [p for p in folder.iterdir() if p.is_file() and is_image_file(p)]
        if loose:
            raise UserError(f"{folder} holds {len(loose)} image files but no class folder: "
                            f"move each image into {folder}/<class>/, one folder per class")
        others = [name for _, o in listing.values() for name in o]
        found = f" (only {len(others)} other files, e.g. {others[0].name})" if others else ""
        raise UserError(f"{folder} holds no image file ({FORMATS}){found}: put the images in "
                        f"one sub-folder per class, {folder}/<class>/*.png")
    _check_no_empty(folder, listing, "train")
    if len(listing) < 2:
        raise UserError(f"{folder} holds one class only ({next(iter(listing))}/): a "
                        "classification needs a folder of images per class, at least 2")
    return sorted(listing)


def _check_other(folder: Path, listing: dict[str, tuple[list[Path], list[Path]]],
                 class_names: list[str]) -> None:
    """val/ or test/: classes of train only, each with images."""
    if not any(images for images, _ in listing.values()):
        raise UserError(f"{folder} holds no image in class folders: put that split's images "
                        f"in {folder}/<class>/, or remove {folder.name}/ to have it carved out "
                        "of train")
    unknown = sorted(set(listing) - set(class_names))
    if unknown:
        raise UserError(f"{folder / unknown[0]} is a class that train/ lacks: add its training "
                        f"images in {folder.parent}/train/{unknown[0]}/, or remove it from "
                        f"{folder.name}/")
    _check_no_empty(folder, listing, folder.name)


def _check_no_empty(folder: Path, listing: dict[str, tuple[list[Path], list[Path]]],
                    split: str) -> None:
    for name, (images, others) in sorted(listing.items()):
        if not images:
            found = f" (only {len(others)} other files)" if others else ""
            raise UserError(f"class folder {folder / name} holds no image file{found}: put "
                            f"that class's {split} images there ({FORMATS}), or remove the "
                            "folder")


def _skip_or_refuse(root: Path, not_images: list[str], unreadable: str) -> None:
    if not not_images:
        return
    if unreadable == "refuse":
        raise UserError(f"{root} holds {len(not_images)} file(s) that are not images, e.g. "
                        f"{not_images[0]} (images end in {', '.join(sorted(IMAGE_SUFFIXES))}): "
                        "remove them, or set data.unreadable=skip to train without them")
    more = (f" and {len(not_images) - NAMED_IN_LOG} more" if len(not_images) > NAMED_IN_LOG
            else "")
    log.warning("%s: skipped %d file(s) that are not images: %s%s", root, len(not_images),
                ", ".join(not_images[:NAMED_IN_LOG]), more)


def _split(listing: dict[str, tuple[list[Path], list[Path]]], class_names: list[str],
           root: Path) -> FolderSplit:
    files, labels = [], []
    for label, name in enumerate(class_names):
        images = listing.get(name, ([], []))[0]
        files += _relative(images, root)
        labels += [label] * len(images)
    return FolderSplit(files, np.asarray(labels, dtype=np.int64))


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files_under(folder: Path) -> list[Path]:
    """Every visible file under `folder`, sub-folders (and linked ones) included, sorted."""
    found = []
    for parent, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(parent) / f for f in files if not f.startswith(".")]
    return sorted(found)


def _relative(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]
