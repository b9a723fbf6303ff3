"""`python -m fidle_runs.fetch_weights`: torchvision's files written under torchvision's names
where runs find them (torch's cache, or --dir), a file already there and intact kept, a damaged
one fetched again, an unknown architecture and a failed download refused in one line.

There is no internet here: torch.hub's download is replaced by one that writes a file whose
content matches the hash its name carries (the weights entry's URL pointed at that name, as in
test_pretrained.py)."""

import hashlib
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision

from fidle_runs import fetch_weights
from fidle_runs.fetch_weights import main
from fidle_runs.models.pretrained.torchvision_nets import torchvision_weights

PROG = "python -m fidle_runs.fetch_weights: error: "
CONTENT = b"the weights of squeezenet1_1, as a download would give them"
NAME = f"squeezenet1_1-{hashlib.sha256(CONTENT).hexdigest()[:8]}.pth"


@pytest.fixture
def downloads(monkeypatch, tmp_path) -> list[tuple[str, str, str | None]]:
    """TORCH_HOME in tmp_path, squeezenet1_1's weights named NAME, and each (url, dst,
    hash_prefix) torch.hub is asked to download, writing CONTENT there."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    entry = torchvision_weights("squeezenet1_1", "DEFAULT")
    monkeypatch.setattr(entry.value, "url", entry.url.rsplit("/", 1)[0] + "/" + NAME)
    calls = []

    def download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True):
        calls.append((url, dst, hash_prefix))
        Path(dst).write_bytes(CONTENT)

    monkeypatch.setattr(fetch_weights.torch.hub, "download_url_to_file", download)
    return calls


def refused(*args: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    assert stop.value.code != 0
    return str(stop.value.code).removeprefix(PROG)


def test_the_file_lands_in_torchs_cache_under_torchvisions_name(downloads, tmp_path, capsys):
    main(["squeezenet1_1"])
    path = tmp_path / "torch" / "hub" / "checkpoints" / NAME
    assert path.read_bytes() == CONTENT
    url = torchvision_weights("squeezenet1_1", "DEFAULT").url
    assert downloads == [(url, str(path), NAME.split("-")[1].removesuffix(".pth"))]
    assert capsys.readouterr().out == (
        f"squeezenet1_1: {path} (IMAGENET1K_V1, 0.0 MB, sha256 "
        f"{hashlib.sha256(CONTENT).hexdigest()[:16]}..., fetched)\n")


def test_a_shared_folder_is_named_and_an_intact_file_kept(downloads, tmp_path, capsys):
    shared = tmp_path / "shared"
    main(["squeezenet1_1", "--dir", str(shared), "squeezenet1_1"])
    assert len(downloads) == 1
    main(["squeezenet1_1", "--dir", str(shared)])
    assert len(downloads) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith(f"squeezenet1_1: {shared / NAME} (") and \
        out[-2].endswith(", already there, intact)")
    assert out[-1] == (f"runs find them with paths.weights_dirs naming {shared} (e.g. "
                       f"FIDLE_WEIGHTS_DIR={shared}) or with model.net.weights=<file>")


def test_a_damaged_file_is_fetched_again(downloads, tmp_path, capsys):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / NAME).write_bytes(b"half a download")
    main(["squeezenet1_1", "--dir", str(shared)])
    assert len(downloads) == 1 and (shared / NAME).read_bytes() == CONTENT
    assert capsys.readouterr().out.startswith(
        f"weights file {shared / NAME} is damaged or not the file its name says: its sha256 "
        f"starts {hashlib.sha256(b'half a download').hexdigest()[:8]}, its name says "
        f"{NAME[14:22]}; downloading it again\n")


def test_unknown_architectures_and_weights_are_refused_before_any_download(downloads,
                                                                         tmp_path):
    assert refused("squeezenet1_1", "resnet19", "--dir", str(tmp_path / "w")) == (
        f"resnet19: torchvision {torchvision.__version__} has no classification architecture of "
        "that name (close names: resnet18, resnet152, resnet101, resnet50, resnet34; "
        "torchvision.models.list_models() lists them)")
    assert refused("squeezenet1_1", "--weights-name", "V2") == (
        "--weights-name V2: squeezenet1_1 has no such weights; choose DEFAULT or one of "
        "IMAGENET1K_V1")
    assert downloads == [] and not (tmp_path / "w").exists()
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2  # argparse: an architecture is required


def test_a_download_that_fails_is_one_line(downloads, monkeypatch, tmp_path):
    def offline(url, dst, hash_prefix=None, progress=True):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    url = torchvision_weights("squeezenet1_1", "DEFAULT").url
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    assert refused("squeezenet1_1") == (
        f"cannot download {url} to {folder} (URLError: <urlopen error [Errno -3] Temporary "
        "failure in name resolution>): run python -m fidle_runs.fetch_weights on a machine with "
        "internet (a login node) and a folder you may write")

    def damaged(url, dst, hash_prefix=None, progress=True):
        raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "0123abcd")')

    monkeypatch.setattr(torch.hub, "download_url_to_file", damaged)
    assert refused("squeezenet1_1") == (
        f"{url} downloaded damaged (RuntimeError: invalid hash value (expected "
        f"\"{NAME[14:22]}\", got \"0123abcd\")); run python -m fidle_runs.fetch_weights again")
    assert list(folder.iterdir()) == []
