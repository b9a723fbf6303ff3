"""The four layouts CIFAR is distributed in, and finding the first place that holds one.

From the CIFAR page (https://www.cs.toronto.edu/~kriz/cifar.html), as torchvision and Keras
read them: CIFAR-10 as Python pickles (`cifar-10-batches-py/`: `data_batch_1`..`5`,
`test_batch`, `batches.meta`) or binary records (`cifar-10-batches-bin/`: `data_batch_1.bin`..
`5.bin`, `test_batch.bin`, `batches.meta.txt`); CIFAR-100 as pickles (`cifar-100-python/`:
`train`, `test`, `meta`) or records (`cifar-100-binary/`: `train.bin`, `test.bin`,
`fine_label_names.txt`, `coarse_label_names.txt`). Each folder may also sit unextracted in its
archive (`cifar-10-python.tar.gz`...), read in place.

Places, in order: `data.raw_dir` alone when given, else each of `data.search_dirs` (unset ones
skipped); in each, the folder itself (a layout folder, whatever its name, or the parent of one),
then its conventional subfolders (`CIFAR-10`, `cifar10`, `cifar-10`, FIDLE's `torch_cache` and
`keras_cache`). In a place: the pickles before the records, folders before archives.
"""

from dataclasses import dataclass
from pathlib import Path

from fidle_runs.core.errors import UserError
from fidle_runs.data.looked_in import what_is_at

DATASETS = ("cifar10", "cifar100")
TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
SUBFOLDERS = {"cifar10": ("CIFAR-10", "cifar10", "cifar-10"),
              "cifar100": ("CIFAR-100", "cifar100", "cifar-100")}
CACHES = ("torch_cache", "keras_cache")
CIFAR_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclass(frozen=True)
class Layout:
    """One distributed layout: its folder, its archive and the files of each part."""

    dataset: str
    kind: str  # "python" (pickled batches) or "binary" (fixed-size records)
    folder: str
    archive: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: tuple[str, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return self.train + self.test + self.meta


LAYOUTS = {
    "cifar10": (
        Layout("cifar10", "python", "cifar-10-batches-py", "cifar-10-python.tar.gz",
               tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
               ("batches.meta",)),
        Layout("cifar10", "binary", "cifar-10-batches-bin", "cifar-10-binary.tar.gz",
               tuple(f"data_batch_{i}.bin" for i in range(1, 6)), ("test_batch.bin",),
               ("batches.meta.txt",)),
    ),
    "cifar100": (
        Layout("cifar100", "python", "cifar-100-python", "cifar-100-python.tar.gz",
               ("train",), ("test",), ("meta",)),
        Layout("cifar100", "binary", "cifar-100-binary", "cifar-100-binary.tar.gz",
               ("train.bin",), ("test.bin",), ("fine_label_names.txt", "coarse_label_names.txt")),
    ),
}


@dataclass(frozen=True)
class Found:
    """A layout found at `path`: its folder, or its archive (`in_archive`)."""

    layout: Layout
    path: Path
    in_archive: bool

    def describe(self) -> str:
        """One line for the log and result.json: what was found where."""
        where = f"the archive {self.path}" if self.in_archive else self.path
        return f"{TITLES[self.layout.dataset]} ({self.layout.kind} layout) from {where}"

    def where(self, name: str) -> str:
        """How messages name one of the layout's files."""
        if self.in_archive:
            return f"{self.layout.folder}/{name} in {self.path}"
        return str(self.path / name)

    def signature(self) -> str:
        """What identifies these files' contents cheaply: resolved paths, sizes and
        modification times (a replaced file changes it)."""
        paths = [self.path] if self.in_archive else [self.path / n for n in self.layout.files]
        stats = [(p.resolve(), p.stat()) for p in paths]
        return ";".join(f"{p}:{s.st_size}:{s.st_mtime_ns}" for p, s in stats)


def places(dataset: str, raw_dir: str | None, search_dirs: list[str | None]) -> list[Path]:
    """Every folder looked in for `dataset`, in order of precedence."""
    roots = [raw_dir] if raw_dir else [d for d in search_dirs if d]
    found: list[Path] = []
    for root in roots:
        base = Path(root).expanduser()
        for folder in [base, *(base / sub for sub in (*SUBFOLDERS[dataset], *CACHES))]:
            if folder not in found:
                found.append(folder)
    return found


def find(dataset: str, raw_dir: str | None, search_dirs: list[str | None]) -> Found:
    """The first layout of `dataset` found, or one line naming every folder looked in."""
    if dataset not in DATASETS:
        raise UserError(f"dataset {dataset!r} is not one of {', '.join(DATASETS)}")
    looked = places(dataset, raw_dir, search_dirs)
    for place in looked:
        for layout in LAYOUTS[dataset]:
            for folder in (place, place / layout.folder):
                if all((folder / name).is_file() for name in layout.files):
                    return Found(layout, folder, in_archive=False)
        for layout in LAYOUTS[dataset]:
            if (place / layout.archive).is_file():
                return Found(layout, place / layout.archive, in_archive=True)
    title = TITLES[dataset]
    python, binary = LAYOUTS[dataset]
    where = ("; ".join(what_is_at(place, False, _lacks(place, dataset)) for place in looked)
             if looked else "nowhere: data.raw_dir is unset and so is every data.search_dirs "
                            "entry (FIDLE_DATASETS_DIR, DSDIR)")
    raise UserError(f"no {title} found (looked in: {where}): set data.raw_dir to the folder "
                    f"holding {python.folder}/ or {binary.folder}/ (or their archives "
                    f"{python.archive}, {binary.archive} from {CIFAR_PAGE}), or put it under "
                    "$FIDLE_DATASETS_DIR")


def _lacks(place: Path, dataset: str) -> str:
    """What an existing folder lacks: the missing files of a layout it partly holds, else
    every layout's folder and archive."""
    partial = []
    for layout in LAYOUTS[dataset]:
        for folder in (place, place / layout.folder):
            present = [name for name in layout.files if (folder / name).is_file()]
            if present:
                missing = [name for name in layout.files if name not in present]
                prefix = "" if folder == place else f"{layout.folder}/ "
                partial.append(f"{prefix}lacks {', '.join(missing)}")
    if partial:
        return "; ".join(partial)
    names = [f"{layout.folder}/" for layout in LAYOUTS[dataset]]
    names += [layout.archive for layout in LAYOUTS[dataset]]
    return f"no {', '.join(names[:-1])} or {names[-1]}"
