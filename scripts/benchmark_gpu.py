"""Training speed of fidle_runs as users run it, next to a tuned plain PyTorch loop, on one GPU
(or a CPU), and the wall time of FIDLE's 24-run GTSRB5 grid.

    python scripts/benchmark_gpu.py            # one GPU: cnn_v1/v2/v3 on 48x48 RGB, batch 64 and
                                               # 512, bf16, then the full gtsrb_full grid
    python scripts/benchmark_gpu.py --quick    # CPU-sized, under 5 minutes: cnn_v1 on 24x24 L,
                                               # batch 64, and a 2-run grid

What is timed, on both sides alike: steady-state epochs, each one whole. A runner epoch runs
from the start of one training epoch to the start of the next (the last one: to the end of
training), so it holds the training pass, the validation pass, the checkpoints, the logs and the
progress output of that epoch; the first epoch of each side (cuDNN autotuning, compilation,
caches warming) is left out. images/s = training images / epoch wall time (the GPU synchronised
at both ends).

- runner: `fidle_runs.run.train.train(cfg)` on the config that `python -m fidle_runs
  +experiment=gtsrb_cnn model=M data.size=S data.mode=MODE data.batch_size=B trainer=gpu|cpu`
  composes, with its defaults: TensorBoard and CSV loggers, the best and last checkpoints,
  validation every epoch, progress lines (stdout goes to a file, as in a Slurm job), result.json
  rewritten every epoch, the run log. One callback is added (EpochClock): at each training
  epoch start it reads the clock, runs one plain epoch, and reads the clock again, so the two
  sides alternate epoch by epoch (runner, plain, runner, plain...) in this one process and
  share the machine's state (another user's load on a shared machine, clocks, caches), and the
  plain epochs are never in the runner's time.
- plain: what a careful user writes by hand on the same network (built from the same config),
  data (the runner's training and validation tensors, on the GPU when the runner puts them
  there), batch, optimizer, precision (bf16 autocast where the runner trains in bf16-mixed;
  float16 with a GradScaler where it falls back to 16-mixed), memory layout (channels_last where
  the runner uses it) and compile setting; host data on a GPU is gathered into pinned memory
  and copied without blocking, as the runner's is. Per epoch: a shuffled training pass, a
  validation pass (loss and accuracy, read back once), last.pt saved (network and optimizer)
  and best.pt when the validation accuracy improves: the work the runner does per epoch. It
  runs under a random state of its own (the runner's dropout draws as it would alone), and the
  time it spends compiling is taken out of the runner's compile time.
A row gives each side's median images/s and the median of the epoch-by-epoch ratios (runner
epoch k over plain epoch k, which ran just before it).

GFLOP/img is the training work per image (forward and backward, counted by PyTorch's
FlopCounterMode on one batch); TFLOP/s = GFLOP/img x the runner's images/s; % peak is that over
the matrix peak measured here (a bf16 8192^3 matmul on a GPU, float32 on a CPU).

The grid: `python -m fidle_runs +experiment=gtsrb_full trainer=gpu data.source=synthetic
data.synthetic_fraction=1` (24 runs x 16 epochs on the full synthetic set, 51,839 images),
launched as users launch it, one run at a time (the basic launcher) and as many at once as fit
(hydra/launcher=gpu_shared); wall time from launch to the sweep summary, the data prepared
beforehand and timed apart. `--grid reference` adds the grid without the fast path (float32,
NCHW, data in host memory) to compare accuracies run by run (same seed).

Where a GPU comes in calls of at most 10 minutes, split it: `--grid shared` (the table and the
grid k at once), then `--models cnn_v2 --batches 64 --grid sequential`, then the same with
`--grid reference`; the data cache in --work is reused from call to call on one machine.
"""

import argparse
import contextlib
import logging
import platform
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict
from torch.utils.flop_counter import FlopCounterMode

from fidle_runs.config.conf import CONF_DIR, build
from fidle_runs.hardware.speed import FastPath, compile_seconds
from fidle_runs.launch.resolvers import register_resolvers
from fidle_runs.run.assemble import build_network
from fidle_runs.run.train import train
from fidle_runs.store.result import read_result

FULL = {"models": ["cnn_v1", "cnn_v2", "cnn_v3"], "size": 48, "mode": "RGB",
        "batches": [64, 512], "epochs": 4, "repeats": 1, "fraction": 1.0}
QUICK = {"models": ["cnn_v1"], "size": 24, "mode": "L", "batches": [64], "epochs": 7,
         "repeats": 1, "fraction": 0.2}
# --quick's grid: two small runs of gtsrb_full, one at a time, then both at once.
QUICK_GRID = ["model=cnn_v1", "data.size=24", "data.mode=L,RGB", "data.scale=0.25",
              "trainer.max_epochs=1"]
GRIDS = ("shared", "sequential", "reference")
WITHOUT_FAST_PATH = ["speed.data_on=host", "speed.channels_last=false",
                     "trainer.precision=32-true"]


class PlainLoop:
    """The hand-written loop (see the module's docstring), one epoch at a time, set up with the
    runner's choices once the runner has made them."""

    def __init__(self, cfg: DictConfig, work: Path) -> None:
        self.cfg, self.work = cfg, work
        self.best = -1.0
        self.compile_s = 0.0  # of the plain network, taken out of the runner's compile_s
        self.rng: torch.Tensor | None = None

    def setup(self, tensors: dict, device: torch.device, speed: dict) -> None:
        """Runs inside the runner's fit: under a random state of its own (seeded as the run
        is), so the runner's dropout and augmentation draw what they would draw alone."""
        self.device = device
        with self._own_random_state(seed=self.cfg.seed):
            self._setup(tensors, device, speed)

    @contextlib.contextmanager
    def _own_random_state(self, seed: int | None = None):
        """The runner's random state (host, and its GPU's) as it was, once the block is done;
        the loop's own host state carried from block to block."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            if seed is not None:
                torch.manual_seed(seed)
            else:
                torch.set_rng_state(self.rng)
            yield
            self.rng = torch.get_rng_state()

    def _setup(self, tensors: dict, device: torch.device, speed: dict) -> None:
        self.channels_last = speed["channels_last"]
        in_shape = tuple(tensors["train"][0].shape[1:])
        self.net = build_network(self.cfg, {"in_shape": in_shape, "n_outputs": 43},
                                 "bench").to(device)
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        if speed["compile"]:
            self.net.compile(**({} if speed["compile"] is True else {"mode": speed["compile"]}))
        self.optimizer = build(self.cfg.optimizer, "optimizer")(params=self.net.parameters())
        self.half = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(
            speed["precision"])
        self.scaler = torch.amp.GradScaler(enabled=self.half == torch.float16)
        on_device = speed["data_on"] == "device"
        self.train_set, self.val_set = ([t.to(device) if on_device else t for t in tensors[split]]
                                        for split in ("train", "val"))
        # Host data on a GPU goes as the runner's does: each batch gathered into pinned
        # memory, then copied without blocking (a pageable copy would be the slower one).
        self.pinned = device.type == "cuda" and not on_device
        self.generator = torch.Generator(self.train_set[0].device).manual_seed(self.cfg.seed)

    def _batch(self, data: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        batch = data.index_select(0, index)
        if self.pinned:
            batch = batch.pin_memory()
        return batch.to(self.device, non_blocking=True)

    def _inputs(self, images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        images = self._batch(images, index)
        images = images.float().div_(255)
        return (images.contiguous(memory_format=torch.channels_last) if self.channels_last
                else images)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.half, enabled=self.half is not None)

    def epoch(self) -> float:
        """Seconds of one epoch: training pass, validation pass, last.pt and best.pt (under the
        loop's own random state; the time it spends compiling is counted apart)."""
        compile_before = compile_seconds()
        with self._own_random_state():
            seconds = self._epoch()
        self.compile_s += compile_seconds() - compile_before
        return seconds

    def _epoch(self) -> float:
        (x, y), (xv, yv), batch = self.train_set, self.val_set, self.cfg.data.batch_size
        _synchronize(self.device)
        start = time.perf_counter()
        self.net.train()
        order = torch.randperm(len(y), device=x.device, generator=self.generator)
        for index in order.split(batch):
            targets = self._batch(y, index)
            with self._autocast():
                loss = F.cross_entropy(self.net(self._inputs(x, index)), targets)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.net.eval()
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        val_loss = torch.zeros((), device=self.device)
        with torch.no_grad(), self._autocast():
            for index in torch.arange(len(yv), device=xv.device).split(batch):
                targets = self._batch(yv, index)
                outputs = self.net(self._inputs(xv, index))
                val_loss += F.cross_entropy(outputs, targets, reduction="sum").float()
                correct += (outputs.argmax(1) == targets).sum()
        accuracy = correct.item() / len(yv)
        state = {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "val_loss": val_loss.item() / len(yv), "val_acc": accuracy}
        torch.save(state, self.work / "last.pt")
        if accuracy > self.best:
            self.best = accuracy
            torch.save(state, self.work / "best.pt")
        _synchronize(self.device)
        return time.perf_counter() - start


class EpochClock(pl.Callback):
    """Times the runner's epochs and runs a plain epoch between two of them: at each training
    epoch start, the runner's previous epoch ends (the clock is read), a plain epoch runs, and
    the runner's next epoch begins (the clock is read again)."""

    plain: PlainLoop | None = None  # the loop the next run interleaves
    last: "EpochClock | None" = None

    def __init__(self) -> None:
        self.runner_s: list[float] = []
        self.plain_s: list[float] = []
        self.started: float | None = None
        self.loop = EpochClock.plain
        EpochClock.last = self

    def _end_runner_epoch(self, trainer: pl.Trainer) -> None:
        if self.started is not None:
            _synchronize(trainer.strategy.root_device)
            self.runner_s.append(time.perf_counter() - self.started)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._end_runner_epoch(trainer)
        if not self.plain_s:
            fast_path = next(c for c in trainer.callbacks if isinstance(c, FastPath))
            self.loop.setup(trainer.datamodule.tensors, trainer.strategy.root_device,
                            fast_path.result.speed)
        self.plain_s.append(self.loop.epoch())
        _synchronize(trainer.strategy.root_device)
        self.started = time.perf_counter()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._end_runner_epoch(trainer)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@dataclass
class Setting:
    model: str
    batch: int
    overrides: list[str]


def compose_run(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)


@contextlib.contextmanager
def as_a_job(run_dir: Path):
    """Progress lines to a file and the run log to <run>/fidle_runs.log, as in a Slurm job."""
    run_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(run_dir / "fidle_runs.log")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with open(run_dir / "stdout.txt", "w") as out, contextlib.redirect_stdout(out):
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def interleaved(setting: Setting, run_dir: Path) -> tuple[list[float], list[float], dict, int]:
    """One runner run with plain epochs between its epochs: the images/s of each side's timed
    epochs (the first, warm-up, left out), the run's speed record and its training images."""
    shutil.rmtree(run_dir, ignore_errors=True)  # a completed run would be skipped
    cfg = compose_run([*setting.overrides, f"paths.run_dir={run_dir}"])
    with open_dict(cfg):
        cfg.callbacks.epoch_clock = {"_target_": f"{__name__}.EpochClock"}
    plain = EpochClock.plain = PlainLoop(compose_run(setting.overrides), run_dir)
    with as_a_job(run_dir):
        result = train(cfg)
    if result.status != "completed":
        raise SystemExit(f"the runner's run in {run_dir} did not complete: {result.error}")
    clock, n = EpochClock.last, result.data["n_train"]
    speed = dict(result.speed)
    if speed.get("compile_s") is not None:
        # The process's compile time holds the plain network's, compiled during the fit.
        speed["compile_s"] = round(speed["compile_s"] - plain.compile_s, 2)
        speed["plain_compile_s"] = round(plain.compile_s, 2)
    return [n / s for s in clock.runner_s[1:]], [n / s for s in clock.plain_s[1:]], speed, n


def training_gflop(setting: Setting) -> float:
    """Forward and backward FLOPs per training image, counted on the CPU."""
    cfg = compose_run(setting.overrides)
    size, channels = cfg.data.size, 3 if cfg.data.mode.startswith("RGB") else 1
    net = build_network(cfg, {"in_shape": (channels, size, size), "n_outputs": 43}, "bench")
    images = torch.rand(4, channels, size, size)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(images), torch.zeros(4, dtype=torch.long)).backward()
    return counter.get_total_flops() / 4 / 1e9


def matrix_peak(device: torch.device) -> tuple[float, str]:
    """TFLOP/s of a large matrix product here: bf16 on a GPU, float32 on a CPU."""
    on_gpu = device.type == "cuda"
    n, dtype, reps = (8192, torch.bfloat16, 30) if on_gpu else (1024, torch.float32, 8)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return 2 * n**3 * reps / seconds / 1e12, f"{str(dtype).removeprefix('torch.')} {n}^3 matmul"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability()
        return (f"{torch.cuda.get_device_name()} (compute {major}.{minor}, CUDA "
                f"{torch.version.cuda}, torch {torch.__version__})")
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
                 platform.processor() or "CPU")
    return f"CPU {model}, {torch.get_num_threads()} threads (torch {torch.__version__})"


def fidle_runs(args: list[str], cwd: Path) -> float:
    """Wall seconds of `python -m fidle_runs <args>` (its output in <cwd>/<name>.log)."""
    start = time.perf_counter()
    with open(cwd / f"grid-{len(list(cwd.glob('grid-*.log')))}.log", "w") as log:
        proc = subprocess.run([sys.executable, "-m", "fidle_runs", *args], cwd=cwd, stdout=log,
                              stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"  (exit {proc.returncode}: see {log.name})")
    return seconds


def grid_runs(sweep_dir: Path) -> dict[str, tuple[str, float | None, int]]:
    """job -> (status, test accuracy, runs that shared its GPU)."""
    runs = {}
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        result = read_result(job)
        if result is not None:
            runs[job.name] = (result.status, result.metrics.get("test_acc"),
                              (result.speed or {}).get("runs_per_gpu") or 1)
    return runs


def grid(args: argparse.Namespace, work: Path, data_dir: Path, on_gpu: bool) -> list[str]:
    """The grid's lines of the table."""
    data = ["data.source=synthetic", f"data.synthetic_fraction={1.0 if on_gpu else 0.2}",
            f"paths.data_dir={data_dir}"]
    base = ["+experiment=gtsrb_full", *data, f"paths.output_root={work}",
            "callbacks.progress.style=lines", *([] if on_gpu else QUICK_GRID),
            *(["trainer=gpu"] if on_gpu else [])]
    prepare = [sys.executable, "-m", "fidle_runs.prepare", *data,
               *([] if on_gpu else ["sizes=[24]", "modes=[L,RGB]", "data.scale=0.25"])]
    start = time.perf_counter()
    subprocess.run(prepare, cwd=work, check=True, capture_output=True)
    what = ("24 runs x 16 epochs, 51,839 images" if on_gpu
            else "cnn_v1 x 24x24 L|RGB, scale 0.25, 1 epoch")
    lines = [f"grid gtsrb_full ({what}): data prepared in {time.perf_counter() - start:.0f} s"]
    shared = (["hydra/launcher=gpu_shared"] if on_gpu
              else ["hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2"])
    launches = {"sequential": ("basic, fast path", ["hydra/launcher=basic"]),
                "shared": (f"{shared[0].split('=')[1]}, fast path", shared),
                "reference": (f"{shared[0].split('=')[1]}, no fast path",
                              [*shared, *WITHOUT_FAST_PATH])}
    results = {}
    for name in [g for g in GRIDS if g in args.grid]:
        what, launch = launches[name]
        sweep_dir = work / f"grid-{name}"
        shutil.rmtree(sweep_dir, ignore_errors=True)  # completed runs would be skipped
        seconds = fidle_runs([*base, *launch, f"hydra.sweep.dir={sweep_dir}"], work)
        runs = results[name] = grid_runs(sweep_dir)
        done = [acc for status, acc, _ in runs.values() if status == "completed"]
        at_once = (1 if name == "sequential" else
                   max((k for _, _, k in runs.values()), default=1) if on_gpu else 2)
        mean = f"{100 * statistics.mean(done):.2f} %" if done else "-"
        lines.append(f"  {at_once:>2} at once ({what + '):':<27} {seconds:6.0f} s wall, "
                     f"{len(done)}/{len(runs)} completed, mean test_acc {mean}")
    for name in ("sequential", "reference"):
        if name in results and "shared" in results:
            pairs = [(results["shared"][job][1], results[name][job][1])
                     for job in results["shared"] if job in results[name]
                     and None not in (results["shared"][job][1], results[name][job][1])]
            if pairs:
                gaps = [100 * (a - b) for a, b in pairs]
                lines.append(f"  test_acc, fast path k at once minus {name}, run by run: mean "
                             f"{statistics.mean(gaps):+.2f}, largest |{max(gaps, key=abs):+.2f}| "
                             f"points over {len(pairs)} runs")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU-sized, under 5 minutes")
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--batches", type=int, nargs="+")
    parser.add_argument("--epochs", type=int, help="per run, the first is warm-up")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--compile", default="false",
                        help="speed.compile for both sides: false, true or a torch.compile mode")
    parser.add_argument("--grid", nargs="*", default=["sequential", "shared"], choices=GRIDS,
                        help="which grids to time (none: --grid with no value)")
    parser.add_argument("--work", default="outputs/benchmark_gpu",
                        help="runs, logs and the data cache (kept: prepared data is reused)")
    args = parser.parse_args()
    preset = QUICK if args.quick else FULL
    models, batches = args.models or preset["models"], args.batches or preset["batches"]
    epochs, repeats = args.epochs or preset["epochs"], args.repeats or preset["repeats"]
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning_fabric.utilities.seed").setLevel(logging.WARNING)
    register_resolvers()
    on_gpu = torch.cuda.is_available() and not args.quick
    device = torch.device("cuda" if on_gpu else "cpu")
    work = Path(args.work).resolve() / ("quick" if args.quick else "gpu")
    data_dir = work / "data"
    work.mkdir(parents=True, exist_ok=True)
    common = ["+experiment=gtsrb_cnn", f"data.size={preset['size']}",
              f"data.mode={preset['mode']}", "data.source=synthetic",
              f"data.synthetic_fraction={preset['fraction']}", f"paths.data_dir={data_dir}",
              f"paths.output_root={work}", f"trainer.max_epochs={epochs}",
              f"trainer={'gpu' if on_gpu else 'cpu'}", f"speed.compile={args.compile}"]
    settings = [Setting(m, b, [*common, f"model={m}", f"data.batch_size={b}"])
                for m in models for b in batches]
    peak, peak_how = matrix_peak(device)
    print(f"fidle_runs speed on {device_name(device)}")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fidle_runs.prepare", "data.source=synthetic",
                    f"data.synthetic_fraction={preset['fraction']}", f"sizes=[{preset['size']}]",
                    f"modes=[{preset['mode']}]", f"paths.data_dir={data_dir}"], cwd=work,
                   check=True, capture_output=True)
    print(f"data ready in {time.perf_counter() - start:.0f} s (made once, then reused)")
    rows, ratios = [], []
    for setting in settings:
        runner, plain = [], []
        for repeat in range(repeats):
            run_dir = work / "runs" / f"{setting.model}-b{setting.batch}-{repeat}"
            runner_rates, plain_rates, speed, n_train = interleaved(setting, run_dir)
            runner += runner_rates
            plain += plain_rates
        pair_ratios = [r / p for r, p in zip(runner, plain, strict=True)]
        r, p, ratio = (statistics.median(v) for v in (runner, plain, pair_ratios))
        gflop = training_gflop(setting)
        ratios.append(ratio)
        tflops = gflop * r / 1e3
        layout = "channels_last" if speed["channels_last"] else "NCHW"
        compiled = ("" if speed.get("compile_s") is None else
                    f", compile {speed['compile_s']:.1f} s runner / {speed['plain_compile_s']:.1f}"
                    f" s plain, {'compiled' if speed['compiled'] else 'RAN EAGER'}")
        rows.append(f"{setting.model:<7} {setting.batch:>5} {r:>13,.0f} {p:>12,.0f} "
                    f"{ratio:>6.3f} {gflop:>10.3f} {tflops:>8.3f} {100 * tflops / peak:>6.1f} %"
                    f"  {speed['data_on']}, {layout}{compiled}")
    print(f"set-{preset['size']}x{preset['size']}-{preset['mode']} synthetic ({n_train:,} train "
          f"images), {speed['precision']}, compile {args.compile}; medians of "
          f"{(epochs - 1) * repeats} timed epochs per side (1 warm-up epoch per run left out), "
          f"ratio: median of the epoch-by-epoch ratios; matrix peak measured here "
          f"{peak:.2f} TFLOP/s ({peak_how})")
    print("model   batch  runner img/s  plain img/s  ratio  GFLOP/img  TFLOP/s  % peak  data, "
          "layout")
    print("\n".join(rows))
    if args.grid:
        print("\n".join(grid(args, work, data_dir, on_gpu)))
    print(f"runner/plain ratio {min(ratios):.3f}")


if __name__ == "__main__":
    main()
