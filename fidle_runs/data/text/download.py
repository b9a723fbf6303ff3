"""`data.download=true`: the official Large Movie Review Dataset archive (Maas et al. 2011,
84 MB) into `data.download_dir`, unpacked to `aclImdb/` without its 50,000 unlabelled `unsup`
reviews. Both the archive and the folder appear under their final names only when complete, so
an interrupted download is started again, never half read."""

import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from fidle_runs import atomic
from fidle_runs.errors import UserError
from fidle_runs.storage import DATA_CACHE_FIX, storage_refusals

ACLIMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ARCHIVE = "aclImdb_v1.tar.gz"
FOLDER = "aclImdb"
ARCHIVE_MIB = 84
OFFLINE_FIX = ("without internet, copy aclImdb (or Keras' imdb.npz and imdb_word_index.json) "
               "into a folder and set data.raw_dir to it")


def download_aclimdb(download_dir: Path, url: str = ACLIMDB_URL) -> Path:
    """`<download_dir>/aclImdb`, downloaded and unpacked where it is not there yet."""
    folder = download_dir / FOLDER
    if folder.is_dir():
        return folder
    archive = download_dir / ARCHIVE
    with storage_refusals(archive, "the IMDB archive", DATA_CACHE_FIX, 3 * ARCHIVE_MIB * 2**20):
        download_dir.mkdir(parents=True, exist_ok=True)
        if not archive.is_file():
            _fetch(url, archive)
        _unpack(archive, folder)
    return folder


def _fetch(url: str, archive: Path) -> None:
    tmp = atomic.temporary_path(archive)
    try:
        urllib.request.urlretrieve(url, tmp)
        os.replace(tmp, archive)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        # Other OSErrors are the disk's: storage_refusals names them.
        why = " ".join(str(getattr(e, "reason", e)).split()) or type(e).__name__
        raise UserError(f"the IMDB download from {url} failed ({why}): {OFFLINE_FIX}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _unpack(archive: Path, folder: Path) -> None:
    tmp = atomic.temporary_path(folder)
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith(f"{FOLDER}/") and "/unsup/" not in m.name]
            tar.extractall(tmp, members=members, filter="data")
        if not (tmp / FOLDER / "train").is_dir() or not (tmp / FOLDER / "test").is_dir():
            raise UserError(f"{archive} holds no {FOLDER}/train and {FOLDER}/test: delete it "
                            "and run again to download it anew")
        os.replace(tmp / FOLDER, folder)
    except (tarfile.TarError, EOFError) as e:
        raise UserError(f"{archive} is not a readable archive ({e}): delete it and run again "
                        "to download it anew") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
