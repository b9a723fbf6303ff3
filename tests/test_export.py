"""`python -m fidle_runs.export`: every family's trained run exported to ONNX and run under
ONNX Runtime on its real test samples gives the run's outputs; TorchScript and torch.export
programs of a CNN-free DNN and of an LSTM too; the sidecar says what goes in and comes out;
nothing is kept of a failed export, and nothing existing is replaced without --force."""

import errno
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import onnxruntime
import pytest
import torch

from fidle_runs.export import export_run, parity
from fidle_runs.export.__main__ import main
from fidle_runs.export.formats import FORMATS
from fidle_runs.run.rebuild import load_run
from fidle_runs.store.result import read_result

PROG = "python -m fidle_runs.export: error: "
RUNS = ["mnist_run", "gtsrb_run", "text_run", "table_run", "forecast_run"]


def exported(run_dir: Path, out: Path, *args: str) -> dict:
    main([str(run_dir), "--out", str(out), *args])
    return json.loads(Path(f"{out}.json").read_text())


def refused(*args) -> str:
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
    assert stop.value.code != 0
    return str(stop.value.code).removeprefix(PROG)


def real_test_samples(run_dir: Path, k: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's first k real test samples as its data stores them, and the run's outputs."""
    _, run = load_run(run_dir, load_data=True)
    x = run.datamodule.tensors["test"][0][:k]
    with torch.inference_mode():
        return x, run.task(run.datamodule.network_input(x.clone()))


def assert_close(got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape
    assert torch.all((got - want).abs() <= parity.ATOL + parity.RTOL * want.abs())


@pytest.mark.parametrize("fixture", RUNS)
def test_onnx_under_onnx_runtime_gives_the_runs_outputs_on_its_test_samples(
        fixture, request, tmp_path, capsys):
    run_dir = request.getfixturevalue(fixture)
    out = tmp_path / "model.onnx"
    described = exported(run_dir, out)
    printed = capsys.readouterr().out
    assert f"to {out} (onnx, " in printed and f"{out}.json describes it" in printed
    x, want = real_test_samples(run_dir)
    assert torch.isfinite(want).all()
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(["outputs"], {"samples": x.numpy()})
    assert_close(torch.from_numpy(got), want)

    result = json.loads((run_dir / "result.json").read_text())
    assert described["input"] == {**described["input"], "name": "samples",
                                  "dtype": str(x.dtype).removeprefix("torch."),
                                  "shape": ["batch", *x.shape[1:]]}
    assert described["output"]["shape"] == ["batch", *want.shape[1:]]
    assert described["task"] == result["task"] and described["format"] == "onnx"
    assert described["parity"]["batch_sizes"] == list(parity.BATCHES)
    assert described["parity"]["finite"] is True and described["parity"]["within_tolerance"]
    assert 0 <= described["parity"]["max_abs_difference"] <= 1e-4
    assert described["checkpoint"] == str(run_dir / result["checkpoints"]["best"]) or \
        Path(described["checkpoint"]).name == Path(result["checkpoints"]["best"]).name


def kept_preprocessing(run_dir: Path) -> dict:
    """The preprocessing the run's best checkpoint kept, as JSON gives it back, and checked
    equal to what its data computes again."""
    _, run = load_run(run_dir, load_data=True)
    saved = torch.load(run.checkpoint, map_location="cpu", weights_only=True)
    kept = saved[type(run.datamodule).__qualname__]
    assert run.data_difference is None
    assert json.loads(json.dumps(run.datamodule.kept_state())) == json.loads(json.dumps(kept))
    return json.loads(json.dumps(kept))


def test_the_sidecar_names_classes_targets_and_the_kept_preprocessing(
        mnist_run, text_run, table_run, forecast_run, tmp_path):
    mnist = exported(mnist_run, tmp_path / "mnist.onnx")
    assert mnist["input"]["dtype"] == "uint8" and mnist["input"]["shape"] == ["batch", 1, 28, 28]
    assert mnist["output"]["class_names"] == [str(d) for d in range(10)]
    assert mnist["output"]["meaning"].startswith("one logit per class")
    assert mnist["preprocessing"] == {}

    text = exported(text_run, tmp_path / "text.onnx")
    assert text["input"]["dtype"] == "int64" and text["input"]["shape"] == ["batch", 48]
    assert text["output"]["shape"] == ["batch", 1]
    assert text["output"]["meaning"].startswith(
        f"the logit of class {text['output']['class_names'][1]!r}")
    assert text["preprocessing"]["maxlen"] == 48 and text["preprocessing"]["vocabulary"]
    assert text["preprocessing"] == kept_preprocessing(text_run)

    table = exported(table_run, tmp_path / "table.onnx")
    assert table["input"]["dtype"] == "float32" and table["task"] == "regression"
    assert table["output"]["target_names"] and "encoding" in table["preprocessing"]
    assert table["preprocessing"] == kept_preprocessing(table_run)

    series = exported(forecast_run, tmp_path / "series.onnx")
    scaling = series["preprocessing"]["scaling"]
    assert set(series["output"]["target_names"]) <= set(scaling["columns"])
    assert len(scaling["mean"]) == len(scaling["std"]) == len(scaling["columns"])
    assert series["preprocessing"] == kept_preprocessing(forecast_run)


@pytest.mark.parametrize("fmt", ["torchscript", "exported"])
@pytest.mark.parametrize("fixture", ["mnist_run", "text_run"])
def test_torchscript_and_torch_export_programs_give_the_runs_outputs(fmt, fixture, request,
                                                                       tmp_path):
    run_dir = request.getfixturevalue(fixture)
    out = tmp_path / f"model{FORMATS[fmt].suffixes[0]}"
    described = exported(run_dir, out, "--format", fmt, "--checkpoint", "last")
    assert described["loads_with"] == FORMATS[fmt].loads_with
    model = (torch.jit.load(str(out)) if fmt == "torchscript"
             else torch.export.load(str(out)).module())
    x, _ = real_test_samples(run_dir, 33)
    _, run = load_run(run_dir, "last", load_data=False)
    with torch.inference_mode():
        assert_close(model(x), run.task(run.datamodule.network_input(x.clone())))


def test_the_default_place_is_the_runs_export_folder_and_nothing_is_replaced_without_force(
        table_run, capsys):
    out = table_run / "export" / "model.onnx"
    try:
        main([str(table_run)])
        first = out.read_bytes()
        sidecar = Path(f"{out}.json").read_text()
        assert refused(table_run) == (f"{out} exists: give --force to replace it, or --out "
                                      "another file")
        assert out.read_bytes() == first and Path(f"{out}.json").read_text() == sidecar
        main([str(table_run), "--force"])
        assert out.read_bytes() == first  # the same weights export to the same bytes
        assert sorted(p.name for p in out.parent.iterdir()) == ["model.onnx", "model.onnx.json"]
    finally:
        for path in (out, Path(f"{out}.json")):
            path.unlink(missing_ok=True)
        out.parent.rmdir()
    capsys.readouterr()


def test_a_failed_export_is_one_line_and_leaves_nothing(mnist_run, tmp_path, monkeypatch):
    out = tmp_path / "model.onnx"

    def unsupported(model, example, path):
        path.write_bytes(b"half a model")
        raise RuntimeError("Exporting the operator 'aten::weird' to ONNX is not supported\n...")

    monkeypatch.setitem(FORMATS, "onnx", replace(FORMATS["onnx"], save=unsupported))
    assert refused(mnist_run, "--out", out) == (
        f"{mnist_run}'s network cannot be exported as onnx (RuntimeError: Exporting the "
        "operator 'aten::weird' to ONNX is not supported): try --format torchscript, exported")
    assert list(tmp_path.iterdir()) == []

    exact = FORMATS["torchscript"]
    monkeypatch.setitem(FORMATS, "torchscript", replace(
        exact, load=lambda path: (lambda x: exact.load(path)(x) + 1e-2)))
    message = refused(mnist_run, "--out", tmp_path / "model.ts", "--format", "torchscript")
    assert message.startswith(f"the torchscript export of {mnist_run} gives outputs up to 0.01 ")
    assert message.endswith("it was not kept; try another --format")
    assert list(tmp_path.iterdir()) == []


def test_without_onnx_runtime_the_export_extra_is_named(mnist_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert refused(mnist_run, "--out", tmp_path / "m.onnx") == (
        "--format onnx checks the file under ONNX Runtime, which is not installed: pip install "
        "'fidle_runs[export]' (onnx, onnxruntime)")
    assert list(tmp_path.iterdir()) == []


def test_an_out_file_named_for_another_format_is_refused(mnist_run, tmp_path):
    assert refused(mnist_run, "--out", tmp_path / "model.onnx", "--format", "exported") == (
        f"--out {tmp_path / 'model.onnx'}: a torch.export program is a .pt2 file (the tools that "
        "load it go by the name); name it model.pt2")
    assert list(tmp_path.iterdir()) == []


def test_no_run_is_refused(tmp_path):
    assert refused(tmp_path).startswith(f"{tmp_path} is no run: it holds no readable "
                                        "result.json")
    assert not (tmp_path / "export").exists()


def test_a_network_giving_nan_is_refused_and_nothing_is_kept(mnist_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(mnist_run, run)
    best = run / Path(read_result(run).checkpoints["best"])
    state = torch.load(best, weights_only=True)
    for key, value in state["state_dict"].items():
        if key.startswith("net.") and value.is_floating_point():
            value.fill_(float("nan"))
    torch.save(state, best)
    out = tmp_path / "out" / "model.onnx"
    assert refused(run, "--out", out) == (
        f"the onnx export of {run} (best checkpoint) gives outputs that are not finite (NaN or "
        "inf) on its check batches: it was not kept; weights that diverged cannot be exported "
        "(try --checkpoint last)")
    assert list(out.parent.iterdir()) == []


def test_a_sidecar_that_cannot_be_written_leaves_the_previous_pair(mnist_run, tmp_path,
                                                                   monkeypatch):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"the previous model")
    Path(f"{out}.json").write_text('{"the previous": "description"}')

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(export_run.atomic, "write_json", full_disk)
    message = refused(mnist_run, "--out", out, "--force")
    assert message.startswith(f"{out}.json cannot be written (OSError: [Errno 28] No space ")
    assert message.endswith("nothing was replaced; free space there or give --out another place")
    assert out.read_bytes() == b"the previous model"
    assert Path(f"{out}.json").read_text() == '{"the previous": "description"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.json"]
