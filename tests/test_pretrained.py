"""`model=pretrained`: torchvision architectures and Hydra factories started from weights files
found on local disk (never downloaded), their head replaced for the data's classes, their input
adapted inside the network; a GTSRB run trained through the real command line and used again by
evaluate, predict and export; every bad input one line.

The weights files are written here: a torchvision architecture with random weights (seeded),
saved as a state dict. torchvision's file names carry a prefix of the sha256 of the official
file (mobilenet_v3_small-047dcff4.pth), which a file written here cannot match; the tests that
need an intact file in torch's cache layout therefore point the weights entry's URL at a name
carrying this file's own hash (`official_name`), after checking that the name looked up is
the last part of that URL, as torch.hub names it; the official name with this file's content
is the wrong-hash case."""

import csv
import hashlib
import json
import pickle
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from fidle_runs.config.conf import build
from fidle_runs.core.errors import UserError
from fidle_runs.data.inputs import InputRequest
from fidle_runs.evaluate.__main__ import main as evaluate_main
from fidle_runs.export.__main__ import main as export_main
from fidle_runs.models.pretrained.network import PretrainedNet, pretrained_net
from fidle_runs.models.pretrained.torchvision_nets import file_name, torchvision_weights, untrained
from fidle_runs.predict.__main__ import main as predict_main
from fidle_runs.report.report import build_report
from fidle_runs.run.rebuild import load_run
from fidle_runs.run.train import train
from fidle_runs.store.result import read_result
from tests.conftest import compose_train, run_module
from tests.test_image_folder import write_tree

ARCH = "squeezenet1_1"  # the smallest torchvision file (its head a Conv2d, classifier.1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_weights(arch: str, folder: Path, name: str | None = None, seed: int = 0) -> Path:
    """`arch`'s state dict with random weights in `folder`, named `name` or
    `<arch>-<prefix of its own sha256>.pth`."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    path = folder / "written.pth"
    torch.save(untrained(arch, torchvision_weights(arch, "DEFAULT")).state_dict(), path)
    return path.rename(folder / (name or f"{arch}-{sha256(path)[:8]}.pth"))


def official_name(monkeypatch, arch: str, name: str) -> None:
    """torchvision's weights entry of `arch` downloads to `name` (its URL's last part)."""
    entry = torchvision_weights(arch, "DEFAULT")
    monkeypatch.setattr(entry.value, "url", entry.url.rsplit("/", 1)[0] + "/" + name)


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """TORCH_HOME in tmp_path, no shared folders: returns torch's checkpoints folder there."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("DSDIR", raising=False)
    monkeypatch.delenv("FIDLE_WEIGHTS_DIR", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def backbone_state(net: PretrainedNet) -> dict[str, torch.Tensor]:
    return {k: v for k, v in net.backbone.state_dict().items()
            if not k.startswith(f"{net.head_path}.")}


def test_weights_in_torchs_cache_are_loaded_and_the_head_replaced(torch_home, monkeypatch):
    entry = torchvision_weights(ARCH, "DEFAULT")
    assert file_name(entry) == "squeezenet1_1-b8a52dc0.pth" == entry.url.rsplit("/", 1)[-1]
    path = write_weights(ARCH, torch_home)
    official_name(monkeypatch, ARCH, path.name)
    net = pretrained_net((3, 24, 24), 7, arch=ARCH, input_size=None)
    saved = torch.load(path, weights_only=True)
    got = backbone_state(net)
    assert got.keys() == {k for k in saved if not k.startswith("classifier.1.")}
    assert all(torch.equal(got[k], saved[k]) for k in got)  # not initialised again
    assert net.backbone.get_submodule("classifier.1").out_channels == 7
    assert net(torch.rand(5, 3, 24, 24)).shape == (5, 7)
    assert net.weights_record == {
        "arch": ARCH, "weights_name": "IMAGENET1K_V1", "file": str(path),
        "sha256": sha256(path), "head": "classifier.1",
        "input": {"channels": 3, "size": None, "mean": [0.485, 0.456, 0.406],
                  "std": [0.229, 0.224, 0.225]}}


def test_an_explicit_file_comes_first_then_torchs_cache_then_the_shared_folders(
        torch_home, tmp_path, monkeypatch):
    shared = [tmp_path / "team", tmp_path / "site"]
    in_site = write_weights(ARCH, shared[1], seed=1)
    official_name(monkeypatch, ARCH, in_site.name)
    net = pretrained_net((3, 24, 24), 2, arch=ARCH, input_size=None,
                         weights_dirs=[None, str(shared[0]), str(shared[1])])
    assert net.weights_record["file"] == str(in_site)
    in_cache = torch_home / in_site.name
    in_cache.parent.mkdir(parents=True)
    in_cache.write_bytes(in_site.read_bytes())
    net = pretrained_net((3, 24, 24), 2, arch=ARCH, input_size=None,
                         weights_dirs=[str(d) for d in shared])
    assert net.weights_record["file"] == str(in_cache)
    explicit = write_weights(ARCH, tmp_path / "mine", name="my_squeezenet.pth", seed=2)
    net = pretrained_net((3, 24, 24), 2, arch=ARCH, input_size=None, weights=str(explicit),
                         weights_dirs=[str(d) for d in shared])
    assert net.weights_record["file"] == str(explicit)
    assert net.weights_record["sha256"] == sha256(explicit)


def test_grey_images_are_repeated_resized_and_normalised_with_the_weights_statistics(tmp_path):
    weights = write_weights("mobilenet_v3_small", tmp_path)
    net = pretrained_net((1, 20, 20), 3, arch="mobilenet_v3_small", weights=str(weights),
                         input_size=32)
    expected = torchvision_weights("mobilenet_v3_small", "DEFAULT").transforms()
    x = torch.rand(4, 1, 20, 20)
    resized = F.interpolate(x.repeat(1, 3, 1, 1), size=(32, 32), mode="bilinear",
                            align_corners=False)
    mean = torch.tensor(expected.mean).view(1, 3, 1, 1)
    std = torch.tensor(expected.std).view(1, 3, 1, 1)
    assert torch.allclose(net.adapter(x), (resized - mean) / std, atol=1e-6)
    assert net(x).shape == (4, 3)
    default = pretrained_net((1, 20, 20), 3, arch="mobilenet_v3_small", weights=str(weights))
    assert default.adapter.size == expected.crop_size[0] == 224
    assert default.weights_record["head"] == "classifier.3"


def tiny_backbone(width: int = 8, classes: int = 10) -> nn.Module:
    """A package's network in miniature: its head an attribute named `_fc`."""
    net = nn.Sequential()
    net.add_module("stem", nn.Conv2d(3, width, 3))
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flat", nn.Flatten())
    net.add_module("_fc", nn.Linear(width, classes))
    return net


FACTORY = {"_target_": "tests.test_pretrained.tiny_backbone", "width": 8}


def test_a_factory_reached_by_target_loads_its_state_dict_file(tmp_path):
    from omegaconf import OmegaConf

    path = tmp_path / "tiny.pth"
    torch.save(tiny_backbone().state_dict(), path)
    net = pretrained_net((1, 16, 16), 4, factory=OmegaConf.create(FACTORY), weights=str(path),
                         head="_fc", input_size=None, mean=[0.5] * 3, std=[0.25] * 3)
    saved = torch.load(path, weights_only=True)
    assert torch.equal(net.backbone.stem.weight, saved["stem.weight"])
    assert net.backbone._fc.out_features == 4 and net(torch.rand(2, 1, 16, 16)).shape == (2, 4)
    assert net.weights_record == {
        "factory": "tests.test_pretrained.tiny_backbone", "file": str(path),
        "sha256": sha256(path), "head": "_fc",
        "input": {"channels": 3, "size": None, "mean": [0.5] * 3, "std": [0.25] * 3}}

    cfg = compose_train(["+experiment=gtsrb_cnn", "model=pretrained",
                         "model.net.factory={_target_:tests.test_pretrained.tiny_backbone}",
                         f"model.net.weights={path}", "model.net.head=_fc",
                         "model.net.input_size=20", "model.net.mean=[0.5,0.5,0.5]",
                         "model.net.std=[0.25,0.25,0.25]"])
    net = build(cfg.model.net, "model.net")(in_shape=(3, 16, 16), n_outputs=4)
    assert net.adapter.size == 20 and net.weights_record["sha256"] == sha256(path)

    def refused(**given) -> str:
        arguments = {"factory": OmegaConf.create(FACTORY), "weights": str(path), "head": "_fc",
                     "input_size": None, "mean": [0.5] * 3, "std": [0.25] * 3, **given}
        with pytest.raises(UserError) as e:
            pretrained_net((3, 16, 16), 4, **arguments)
        return str(e.value)

    assert refused(head=None).startswith("model.net.head: name the classification head of "
                                         "tests.test_pretrained.tiny_backbone's network")
    assert refused(mean=None).startswith("model.net.mean and model.net.std: give the per-channel")
    assert refused(input_size="weights").startswith("model.net.input_size=weights: the weights "
                                                    "of tests.test_pretrained.tiny_backbone's")
    assert refused(weights=None) == ("model.net.weights: give the state-dict file of "
                                     "tests.test_pretrained.tiny_backbone's network "
                                     "(model.net.weights=<file>)")
    assert refused(factory=OmegaConf.create({**FACTORY, "width": 6})) == (
        f"weights file {path} is not for tests.test_pretrained.tiny_backbone's network: 3 of "
        "another shape (first stem.weight: [8, 3, 3, 3] in the file, [6, 3, 3, 3] in "
        "tests.test_pretrained.tiny_backbone's network); give weights of "
        "tests.test_pretrained.tiny_backbone's network, or the network of this file")


class Payload:
    """What an unsafe pickle would run on loading."""

    def __reduce__(self):
        return (print, ("this ran",))


def test_bad_weights_architectures_and_heads_are_one_line_each(torch_home, tmp_path,
                                                              monkeypatch, capsys):
    def refused(**given) -> str:
        with pytest.raises(UserError) as e:
            pretrained_net((3, 24, 24), 5, **{"arch": ARCH, "input_size": None, **given})
        assert "\n" not in str(e.value)
        return str(e.value)

    official = torchvision_weights(ARCH, "DEFAULT").url.rsplit("/", 1)[-1]
    shared = tmp_path / "shared"
    assert refused(weights_dirs=[None, str(shared)]) == (
        f"weights {official} found nowhere: looked in {torch_home} (no such folder), {shared} "
        f"(no such folder); run `python -m fidle_runs.fetch_weights {ARCH}` on a machine with "
        "internet (a login node), or give model.net.weights=<file>")

    damaged = write_weights(ARCH, torch_home, name=official)
    assert refused() == (
        f"weights file {damaged} is damaged or not the file its name says: its sha256 starts "
        f"{sha256(damaged)[:8]}, its name says b8a52dc0; run `python -m fidle_runs."
        f"fetch_weights {ARCH}` on a machine with internet (a login node)")

    other = write_weights("mobilenet_v3_small", tmp_path)
    message = refused(weights=str(other))
    assert re.fullmatch(
        rf"weights file {re.escape(str(other))} is not for {ARCH}: 52 of the network's tensors "
        r"missing from it \(first features\.0\.weight\), \d+ of its tensors unknown to the "
        r"network \(first features\.0\.0\.weight\); give weights of squeezenet1_1, or the "
        r"network of this file", message), message

    mine = write_weights(ARCH, tmp_path / "mine", name="mine.pth")
    assert refused(weights=str(mine), head="fc") == (
        f"model.net.head=fc: {ARCH} has no module fc; its last layers are features.12.expand1x1, "
        "features.12.expand3x3, classifier.1")
    assert refused(weights=str(mine), head="classifier") == (
        f"model.net.head=classifier: {ARCH} has a Sequential, no Linear or Conv2d layer, at "
        "classifier; its last layers are features.12.expand1x1, features.12.expand3x3, "
        "classifier.1")

    assert refused(arch="resnet19") == (
        f"model.net.arch=resnet19: torchvision {torchvision.__version__} has no classification "
        "architecture of that name (close names: resnet18, resnet152, resnet101, resnet50, "
        "resnet34; "
        "torchvision.models.list_models() lists them)")
    assert refused(weights_name="IMAGENET1K_V9") == (
        f"model.net.weights_name=IMAGENET1K_V9: {ARCH} has no such weights; choose DEFAULT or "
        "one of IMAGENET1K_V1")

    unsafe = tmp_path / "unsafe.pth"
    unsafe.write_bytes(pickle.dumps(Payload(), protocol=2))
    assert refused(weights=str(unsafe)).startswith(
        f"weights file {unsafe} cannot be read as a state dict without running code from it "
        "(UnpicklingError: ")
    assert "this ran" not in capsys.readouterr().out
    assert refused(weights=str(mine), input_size="big") == (
        "model.net.input_size=big: give weights (the weights' size), null (the data's size) or "
        "a number of pixels")


def test_images_the_network_cannot_take_are_a_value_error(tmp_path):
    weights = str(write_weights(ARCH, tmp_path))
    with pytest.raises(ValueError, match=r"^squeezenet1_1 cannot take 8x8 images \(RuntimeError:"
                                         r" .*\); give model.net.input_size=weights or a larger "
                                         r"size$"):
        pretrained_net((3, 8, 8), 5, arch=ARCH, weights=weights, input_size=None)
    with pytest.raises(ValueError, match=r"^squeezenet1_1 takes images of 3 channels \(or grey "
                                         r"ones, repeated\), not 2$"):
        pretrained_net((2, 24, 24), 5, arch=ARCH, weights=weights, input_size=None)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    """squeezenet1_1's weights (random, seeded) where a user keeps a file of their own."""
    return write_weights(ARCH, tmp_path_factory.mktemp("weights"))


# GTSRB in grey (1 channel), a fifth of the small synthetic set, one epoch; squeezenet1_1 (the
# fastest to train here; mobilenet_v3_small takes three times as long) sees its images resized
# to 32 x 32 (224, the weights' size, is slow on a CPU).
GTSRB = ["+experiment=gtsrb_cnn", "data.source=synthetic", "data.synthetic_fraction=0.05",
         "data.prepare_workers=2", "data.scale=0.2", "trainer.max_epochs=1",
         "callbacks.progress.style=lines", "model=pretrained",
         f"model.net.arch={ARCH}", "model.net.input_size=32"]


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory, shared_data_dir, weights_file) -> Path:
    """A `model=pretrained` GTSRB run trained through `python -m fidle_runs`."""
    cwd = tmp_path_factory.mktemp("pretrained")
    proc = run_module("fidle_runs", *GTSRB, f"model.net.weights={weights_file}",
                      f"paths.data_dir={shared_data_dir}", f"hydra.run.dir={cwd / 'run'}",
                      cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd / "run"


def test_a_gtsrb_run_trains_from_the_file_and_evaluate_predict_export_rebuild_it(
        pretrained_run, weights_file, shared_data_dir, tmp_path, capsys):
    result = read_result(pretrained_run)
    assert result.status == "completed" and result.model == "pretrained"
    _, run = load_run(pretrained_run, load_data=True)
    net = run.task.net
    assert isinstance(net, PretrainedNet) and net.adapter.repeat == 3
    assert net.weights_record["file"] == str(weights_file)
    assert net.weights_record["sha256"] == sha256(weights_file)
    assert result.weights["sha256"] == sha256(weights_file)
    assert result.weights["file"] == str(weights_file) and result.weights["arch"] == ARCH
    assert result.finetune["freeze_epochs"] == 0 and len(result.finetune["phases"]) == 1
    assert result.finetune["phases"][0]["trainable"] == result.params
    groups = result.finetune["groups"]
    assert groups["backbone"] == pytest.approx(groups["head"] * 0.1, rel=1e-12)
    assert net.backbone.get_submodule("classifier.1").out_channels == 43

    evaluate_main([str(pretrained_run), "--splits", "test", "--json"])
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["splits"]["test"]["test_acc"] == pytest.approx(result.metrics["test_acc"])

    raw = shared_data_dir / "GTSRB-synthetic" / "fraction0.05-seed0"
    with open(raw / "Test.csv") as f:
        paths = [raw / row["Path"] for row in list(csv.DictReader(f))[:6]]
    with torch.inference_mode():
        x = run.datamodule.read_inputs(InputRequest(paths)).x
        logits = run.task(run.datamodule.network_input(x))
    predict_main([str(pretrained_run), *map(str, paths), "--json"])
    records = json.loads(capsys.readouterr().out)
    assert [r["class_id"] for r in records] == logits.argmax(1).tolist()

    (matrix,) = build_report([pretrained_run.parent]).matrices
    (cell,) = matrix.cells.values()
    assert matrix.models == ["pretrained"] and cell.value == result.metrics["test_acc"]

    out = tmp_path / "model.onnx"
    export_main([str(pretrained_run), "--out", str(out)])
    assert "loaded back, it gives the run's outputs within" in capsys.readouterr().out
    assert json.loads(Path(f"{out}.json").read_text())


@pytest.mark.parametrize(("overrides", "culprit"), [
    (["model.net.weights_name=V9"], f"model.net.weights_name=V9: {ARCH} has no such weights"),
    (["model.net.arch=squeezenet1_2"], "model.net.arch=squeezenet1_2: torchvision"),
    (["model.net.head=fc"], f"model.net.head=fc: {ARCH} has no module fc"),
    ([], f"weights {ARCH}-b8a52dc0.pth found nowhere: looked in "),
])
def test_a_run_given_unusable_weights_stops_in_one_line_and_trains_nothing(
        overrides, culprit, tmp_path, torch_home, weights_file, shared_data_dir):
    weights = [] if not overrides else [f"model.net.weights={weights_file}"]
    run_dir = tmp_path / "run"
    cfg = compose_train([*GTSRB, *weights, *overrides, f"paths.data_dir={shared_data_dir}",
                         f"paths.output_root={tmp_path}", f"paths.run_dir={run_dir}"])
    with pytest.raises(UserError, match=f"^{re.escape(culprit)}"):
        train(cfg)
    assert not run_dir.exists()  # refused before anything is written (run.preflight)


def test_the_command_line_says_where_it_looked_in_one_line(tmp_path, shared_data_dir):
    proc = run_module("fidle_runs", *GTSRB, f"paths.data_dir={shared_data_dir}",
                      f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path,
                      env={"TORCH_HOME": str(tmp_path / "torch"), "DSDIR": str(tmp_path),
                           "FIDLE_WEIGHTS_DIR": str(tmp_path / "shared")})
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"fidle_runs: error: weights {ARCH}-b8a52dc0.pth found nowhere: looked in "
        f"{tmp_path / 'torch/hub/checkpoints'} (no such folder), {tmp_path / 'shared'} (no such "
        f"folder), {tmp_path} (no such file); run `python -m fidle_runs.fetch_weights {ARCH}` on "
        "a machine with internet (a login node), or give model.net.weights=<file>"
    ), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    # Hydra's own log is all: no config, no result, no checkpoint.
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["fidle_runs.log"]


def test_an_image_folder_fine_tunes_from_the_file_and_predicts_its_class_names(
        tmp_path, weights_file, capsys):
    """Real Fashion-MNIST images in an ImageFolder tree (grey PNG files, RGB set), the backbone
    frozen for the first of two epochs: the run records both phases, and predict names the
    folder's classes."""
    root = write_tree(tmp_path / "clothes", {"train/bag": 6, "train/coat": 6, "train/dress": 6,
                                             "test/bag": 2, "test/coat": 2, "test/dress": 2})
    run_dir = tmp_path / "run"
    result = train(compose_train([
        "data=image_folder", f"data.raw_dir={root}", "data.size=24", "data.prepare_workers=1",
        "data.batch_size=4", "trainer.max_epochs=2", "callbacks.progress.style=lines",
        "model=pretrained", f"model.net.arch={ARCH}", f"model.net.weights={weights_file}",
        "model.net.input_size=32", "model.finetune.freeze_epochs=1",
        f"paths.output_root={tmp_path}", f"paths.run_dir={run_dir}"]))
    assert result.status == "completed" and result.data["family"] == "image_folder"
    first, second = result.finetune["phases"]
    assert first["epochs"] == [1, 1] and second["epochs"] == [2, 2]
    assert first["trainable"] < second["trainable"] == result.params
    png = sorted((root / "test" / "coat").glob("*.png"))[0]
    capsys.readouterr()  # the run's own lines
    predict_main([str(run_dir), str(png), "--json"])
    (record,) = json.loads(capsys.readouterr().out)
    assert record["class"] in ("bag", "coat", "dress")
