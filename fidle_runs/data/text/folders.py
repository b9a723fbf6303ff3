"""Texts in the raw Stanford layout (Maas et al. 2011, `aclImdb_v1.tar.gz`):
`<root>/{train,test}/<class>/*.txt`, one UTF-8 text per file. The class folders, sorted, are
the classes (aclImdb's neg, pos: 0 and 1, as Keras' labels); more folders make a multi-class
set. aclImdb's `unsup` (unlabelled reviews) and any file beside the class folders are ignored."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fidle_runs.core.errors import UserError

SPLITS = ("train", "test")
IGNORED = ("unsup",)
SUFFIX = ".txt"


@dataclass
class TextSplit:
    """A split's texts as read, their class ids (int64) and files (relative to the root)."""

    texts: list[str]
    labels: np.ndarray
    files: list[str]


def is_folder_layout(root: Path) -> bool:
    return all((root / split).is_dir() for split in SPLITS)


def class_folders(root: Path) -> list[str]:
    """The class names: train's folders, sorted; test must have the same."""
    found = {}
    for split in SPLITS:
        found[split] = sorted(p.name for p in (root / split).iterdir()
                              if p.is_dir() and p.name not in IGNORED)
    if found["train"] != found["test"]:
        raise UserError(f"{root}: train/ has the class folders {found['train']} and test/ "
                        f"{found['test']}: give both the same classes")
    classes = found["train"]
    if len(classes) < 2:
        which = f"one class only ({classes[0]})" if classes else "no class folder"
        raise UserError(f"{root}/train holds {which}: a classification needs a folder of "
                        "texts per class, at least 2 (e.g. neg/ and pos/)")
    return classes


def text_files(root: Path, split: str, classes: list[str]) -> list[list[Path]]:
    """Per class, the split's text files (sorted by name); an empty class is refused."""
    files = []
    for name in classes:
        found = sorted((root / split / name).glob(f"*{SUFFIX}"))
        if not found:
            raise UserError(f"{root / split / name} holds no {SUFFIX} file: put that class's "
                            f"{split} texts there, one per file, or remove the folder")
        files.append(found)
    return files


def class_ids(files: list[list[Path]]) -> np.ndarray:
    """Each file's class id (int64), in the order of `text_files`' lists: the split's labels
    known from its listing, before any text is read."""
    return np.repeat(np.arange(len(files), dtype=np.int64), [len(f) for f in files])


def read_split(root: Path, split: str, classes: list[str]) -> TextSplit:
    files = text_files(root, split, classes)
    paths = [path for group in files for path in group]
    return TextSplit([read_text(p) for p in paths], class_ids(files),
                     [str(p.relative_to(root)) for p in paths])


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text (byte {e.start}): save it as UTF-8") from None
