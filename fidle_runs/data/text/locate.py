"""Where the texts are. `data.raw_dir`, when given, is the one place looked in (a wrong folder is
an error, never a silent switch to another copy): a folder in the raw layout
(fidle_runs.data.text.folders), one holding `aclImdb/` or Keras' `imdb.npz`, or that npz.

Without it, IMDB is looked for, in order, in `$FIDLE_DATASETS_DIR/keras_cache/imdb.npz` (FIDLE's
copy of Keras' files), `$FIDLE_DATASETS_DIR/aclImdb`, Keras' own cache
`~/.keras/datasets/imdb.npz`, and an earlier `data.download` into `data.download_dir`. Keras'
npz needs its word index, `imdb_word_index.json`, beside it."""

import os
from dataclasses import dataclass
from pathlib import Path

from fidle_runs.core.errors import UserError
from fidle_runs.data.looked_in import what_is_at
from fidle_runs.data.text.folders import is_folder_layout

KERAS_NPZ, KERAS_WORD_INDEX, ACLIMDB = "imdb.npz", "imdb_word_index.json", "aclImdb"


@dataclass(frozen=True)
class Source:
    """`path`: the npz (layout "keras npz", its word index beside it) or the folder holding
    train/ and test/ (layout "folders")."""

    layout: str
    path: Path

    @property
    def word_index(self) -> Path:
        return self.path.with_name(KERAS_WORD_INDEX)


def candidates(raw_dir: str | None, datasets_dir: str | None,
               download_dir: str | None) -> list[Source]:
    """Every place looked in, in order (see the module's docstring)."""
    if raw_dir:
        raw = Path(raw_dir).expanduser()
        if raw.suffix == ".npz":
            return [Source("keras npz", raw)]
        return [Source("folders", raw), Source("folders", raw / ACLIMDB),
                Source("keras npz", raw / KERAS_NPZ)]
    found = []
    root = datasets_dir or os.environ.get("FIDLE_DATASETS_DIR")
    if root:
        root_path = Path(root).expanduser()
        found += [Source("keras npz", root_path / "keras_cache" / KERAS_NPZ),
                  Source("folders", root_path / ACLIMDB)]
    found.append(Source("keras npz", Path.home() / ".keras" / "datasets" / KERAS_NPZ))
    if download_dir:
        found.append(Source("folders", Path(download_dir).expanduser() / ACLIMDB))
    return found


def present(source: Source) -> bool:
    if source.layout == "folders":
        return is_folder_layout(source.path)
    if not source.path.is_file():
        return False
    if not source.word_index.is_file():
        raise UserError(f"{source.path} has no {KERAS_WORD_INDEX} beside it: Keras writes it "
                        "with keras.datasets.imdb.get_word_index(); copy it next to the npz")
    return True


def find_source(raw_dir: str | None, datasets_dir: str | None,
                download_dir: str | None) -> Source | None:
    """The first place holding texts, None when none does."""
    return next((s for s in candidates(raw_dir, datasets_dir, download_dir) if present(s)), None)


def not_found(raw_dir: str | None, datasets_dir: str | None,
              download_dir: str | None) -> UserError:
    """One line naming every place looked in and how to get the texts."""
    looked = "; ".join(what_is_at(s.path, s.layout == "keras npz", "no train/ and test/ folders")
                       for s in candidates(raw_dir, datasets_dir, download_dir))
    if raw_dir:
        return UserError(f"no texts in data.raw_dir (looked in: {looked}): point it to a folder "
                         "with train/<class>/*.txt and test/<class>/*.txt, or to Keras' imdb.npz")
    unset = ("" if datasets_dir or os.environ.get("FIDLE_DATASETS_DIR")
             else "FIDLE_DATASETS_DIR is not set; ")
    return UserError(f"no IMDB found ({unset}looked in: {looked}): set data.raw_dir to "
                     "aclImdb (or a folder with Keras' imdb.npz and imdb_word_index.json), or "
                     "FIDLE_DATASETS_DIR, or data.download=true where the internet is reachable")

