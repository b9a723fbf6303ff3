"""A run directory -> one export file and its sidecar description, both written under temporary
names and renamed only once the export, loaded back, gives the run's outputs as finite numbers.
The sidecar is renamed into place first, then the model: a failure before leaves the previous
pair (--force) as it was, never a new model beside the old description."""

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fidle_runs.core import atomic
from fidle_runs.core.errors import UserError, one_line
from fidle_runs.export import parity
from fidle_runs.export.description import describe_export
from fidle_runs.export.exported_model import ExportedModel
from fidle_runs.export.formats import FORMATS
from fidle_runs.run.rebuild import CHECKPOINTS, load_run

# The batch the export is traced with: torch.export treats sizes 0 and 1 as special cases.
EXAMPLE_BATCH = 2
EXPORT_DIR = "export"


@dataclass
class Export:
    path: Path
    sidecar: Path
    description: dict[str, Any]


def default_path(run_dir: Path, fmt: str) -> Path:
    return run_dir / EXPORT_DIR / f"model{FORMATS[fmt].suffixes[0]}"


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def export_run(run_dir: Path, fmt: str, out: Path | None = None, which: str = "best",
               force: bool = False) -> Export:
    spec = FORMATS[fmt]
    out = Path(out) if out else default_path(run_dir, fmt)
    if out.suffix not in spec.suffixes:
        raise UserError(f"--out {out}: {spec.noun} is a {' or '.join(spec.suffixes)} file "
                        f"(the tools that load it go by the name); name it "
                        f"{out.with_suffix(spec.suffixes[0]).name}")
    sidecar = sidecar_path(out)
    for path in (out, sidecar):
        if path.exists() and not force:
            raise UserError(f"{path} exists: give --force to replace it, or --out another file")
    result, run = load_run(run_dir, which, load_data=False)
    model = ExportedModel(run.datamodule.network_input, run.task).eval()
    generator = torch.Generator().manual_seed(0)
    shape = tuple(result.data["shape"])
    example = run.datamodule.example_samples(shape, EXAMPLE_BATCH, generator)
    checks = [run.datamodule.example_samples(shape, n, generator) for n in parity.BATCHES]
    out.parent.mkdir(parents=True, exist_ok=True)
    # The format's suffix kept: torch.export.save and the ONNX tools go by it. The sidecar
    # takes its name first, then the model; a failure before keeps the previous pair.
    with atomic.replacing(out, keep_suffix=True) as tmp:
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # The tracers' warnings (a value taken as constant, TorchScript deprecated)
                # are what the comparison below settles, on batches of other sizes.
                warnings.simplefilter("ignore")
                spec.save(model, example, tmp)
                runner = spec.load(tmp)
            measured = parity.compare(model, runner, checks)
        except UserError:
            raise
        except Exception as e:  # each exporter fails in its own ways; one line
            others = ", ".join(f for f in FORMATS if f != fmt)
            raise UserError(f"{run_dir}'s network cannot be exported as {fmt} "
                            f"({one_line(e)}): try --format "
                            f"{others}") from None
        if not measured["finite"]:
            other = next(c for c in CHECKPOINTS if c != which)
            raise UserError(f"the {fmt} export of {run_dir} ({which} checkpoint) gives outputs "
                            "that are not finite (NaN or inf) on its check batches: it was not "
                            "kept; weights that diverged cannot be exported (try --checkpoint "
                            f"{other})")
        if not measured["within_tolerance"]:
            raise UserError(f"the {fmt} export of {run_dir} gives outputs up to "
                            f"{measured['max_abs_difference']:.3g} away from the run's "
                            f"(tolerance {measured['tolerance']}): it was not kept; try "
                            "another --format")
        with torch.inference_mode():
            output = model(example)
        description = describe_export(result, run, run_dir, fmt, spec.loads_with, example,
                                      output, measured)
        with atomic.replacing(sidecar) as sidecar_tmp:
            try:
                atomic.write_json(sidecar_tmp, description)
            except OSError as e:
                raise UserError(f"{sidecar} cannot be written ({one_line(e)}): nothing "
                                "was replaced; free space there or give --out another "
                                "place") from None
    return Export(out, sidecar, description)
