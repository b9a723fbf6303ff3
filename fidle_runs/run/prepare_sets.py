"""`python -m fidle_runs.prepare [overrides]`: build the enhanced GTSRB sets (FIDLE's GTSRB1).

Imports neither torch nor Lightning: preparing data on a login or CPU node stays light.
"""

import logging
import resource
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from fidle_runs.config.conf import CONF_DIR
from fidle_runs.core.errors import UserError
from fidle_runs.data.gtsrb.h5 import SetSpec
from fidle_runs.data.gtsrb.prepare import prepare_sets
from fidle_runs.data.gtsrb.source import materialize, source_for
from fidle_runs.data.images.enhance import CHANNELS
from fidle_runs.launch.resolvers import register_resolvers

log = logging.getLogger("fidle_runs.prepare")
register_resolvers()


def prepare(cfg: DictConfig) -> dict[SetSpec, str]:
    data = cfg.data
    specs = set_specs(cfg.sizes, cfg.modes)
    src = source_for(data)
    start = time.perf_counter()
    raw = materialize(src, data.prepare_workers)
    generated = time.perf_counter()
    out_dir = Path(data.prepared_dir) / src.prepared_folder
    paths = prepare_sets(raw, src.kind, specs, out_dir, data.roi, data.scale, data.subset_seed,
                         data.prepare_workers)
    done = time.perf_counter()
    n_images = len(raw.train) * data.scale + len(raw.test) * data.scale
    peak_mib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    log.info("raw %s (%s, %s layout): %d train / %d test images, ready in %.1fs", raw.root,
             src.kind, raw.layout, len(raw.train), len(raw.test), generated - start)
    for spec, path in paths.items():
        log.info("  %-20s %s (%.1f MiB)", spec.name, path, path.stat().st_size / 2**20)
    log.info("prepared %d set(s) in %.1fs (~%.0f source images/s), peak memory of one "
             "process %.0f MiB", len(specs), done - generated,
             n_images / max(done - generated, 1e-9), peak_mib)
    return {spec: str(path) for spec, path in paths.items()}


def set_specs(sizes: list, modes: list) -> list[SetSpec]:
    """The sets asked for, checked before any data is generated or read."""
    for size in sizes:
        if not (isinstance(size, int) and size >= 8):
            raise UserError(f"sizes={list(sizes)} is invalid: {size!r} is not an integer >= 8; "
                            "e.g. sizes=[24,48]")
    for mode in modes:
        if mode not in CHANNELS:
            raise UserError(f"modes={list(modes)} is invalid: {mode!r} is not one of "
                            f"{', '.join(CHANNELS)}; e.g. modes=[RGB,L]")
    return [SetSpec(size, str(mode)) for size in sizes for mode in modes]


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="prepare")
def main(cfg: DictConfig) -> None:
    try:
        prepare(cfg)
    except UserError as e:
        raise SystemExit(f"fidle_runs.prepare: error: {e}") from None
