"""`data.download=true`: the official Large Movie Review Dataset archive (Maas et al. 2011,
84 MB) into `data.download_dir`, unpacked to `aclImdb/` without its 50,000 unlabelled `unsup`
reviews. Both the archive and the folder appear under their final names only when complete, so
an interrupted download is started again, never half read; one job at a time downloads (a lock),
so the jobs of a sweep started together wait for the first one's folder and reuse it.

The archive's members are checked as they are unpacked: Python's `data` extraction filter
where it has one (3.10.12, 3.11.4 and later), else our own stricter check (no absolute name,
no `..` above the archive's root, no link, no device)."""

import tarfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath, PureWindowsPath

from fidle_runs.core import atomic
from fidle_runs.core.errors import UserError
from fidle_runs.core.storage import DATA_CACHE_FIX, storage_refusals

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
    with (storage_refusals(archive, "the IMDB archive", DATA_CACHE_FIX, 3 * ARCHIVE_MIB * 2**20),
          atomic.exclusive_lock(download_dir / ".download.lock")):
        if folder.is_dir():  # another job downloaded it while this one waited
            return folder
        # Holding the lock, we own every write here: what is there was left by a kill.
        atomic.remove_temporaries(download_dir, ARCHIVE)
        atomic.remove_temporaries(download_dir, FOLDER)
        if not archive.is_file():
            _fetch(url, archive)
        _unpack(archive, folder)
    return folder


def _fetch(url: str, archive: Path) -> None:
    try:
        with atomic.replacing(archive) as tmp:
            urllib.request.urlretrieve(url, tmp)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        # Other OSErrors are the disk's: storage_refusals names them.
        why = " ".join(str(getattr(e, "reason", e)).split()) or type(e).__name__
        raise UserError(f"the IMDB download from {url} failed ({why}): {OFFLINE_FIX}") from None


def _unpack(archive: Path, folder: Path) -> None:
    try:
        with atomic.replacing(folder, subfolder=FOLDER) as tmp:
            with tarfile.open(archive) as tar:
                members = [m for m in tar.getmembers()
                           if m.name.startswith(f"{FOLDER}/") and "/unsup/" not in m.name]
                _extract(tar, members, tmp, archive)
            if not (tmp / FOLDER / "train").is_dir() or not (tmp / FOLDER / "test").is_dir():
                raise UserError(f"{archive} holds no {FOLDER}/train and {FOLDER}/test: delete "
                                "it and run again to download it anew")
    except (tarfile.TarError, EOFError) as e:
        raise UserError(f"{archive} is not a readable archive ({e}): delete it and run again "
                        "to download it anew") from None


def _extract(tar: tarfile.TarFile, members: list[tarfile.TarInfo], into: Path,
             archive: Path) -> None:
    """`members` of `tar` into `into`, none of them written outside it or as a device."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, members=members, filter="data")
        return
    for member in members:
        why = _unsafe(member)
        if why:
            raise UserError(f"{archive} holds {member.name!r}, {why}: it is not the IMDB "
                            "archive; delete it and run again to download it anew")
    tar.extractall(into, members=members)


def _unsafe(member: tarfile.TarInfo) -> str | None:
    """Why extracting `member` could write outside the folder it goes to (or make a device),
    where Python lacks tarfile's `data` filter; None when it is safe. Links are refused
    whatever their target: a link inside the folder can lead a later member out of it, and the
    IMDB archive holds none."""
    if member.issym() or member.islnk():
        return f"a link to {member.linkname!r}"
    if not (member.isfile() or member.isdir()):
        return "a device or other special file"
    if _leaves(member.name):
        return "a path leading outside the folder it unpacks to"
    return None


def _leaves(name: str) -> bool:
    """Whether the archive path `name` is absolute or climbs above the archive's root."""
    path = PurePosixPath(name)
    if path.is_absolute() or PureWindowsPath(name).drive:
        return True
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False
