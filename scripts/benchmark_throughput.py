"""Training throughput of fidle_runs (Lightning Trainer + our DataModule and Classification)
next to a plain PyTorch loop on the same model, data, batch size and optimizer, in one process.

    python scripts/benchmark_throughput.py [--model cnn_v1] [--size 24] [--mode L] [--epochs 2]

Prints images/s of each (train epochs only, the first epoch of each run is warm-up) and their
ratio. Runs alternate (runner, plain, runner, plain...) so machine noise hits both alike.
"""

import argparse
import logging
import statistics
import time
import warnings

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from fidle_runs.data.gtsrb.datamodule import GTSRBDataModule
from fidle_runs.models import cnn
from fidle_runs.tasks.classification import Classification


class EpochTimer(pl.Callback):
    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start, self.images = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.images += len(batch[1])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.rates.append(self.images / (time.perf_counter() - self.start))


def runner_rate(datamodule: GTSRBDataModule, build, epochs: int, accelerator: str) -> float:
    net = build(**datamodule.dims)
    module = Classification(net, lambda params: torch.optim.Adam(params, lr=1e-3),
                            n_outputs=datamodule.n_outputs)
    timer = EpochTimer()
    trainer = pl.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1,
                         limit_val_batches=0, num_sanity_val_steps=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, datamodule=datamodule)
    return statistics.mean(timer.rates[1:])


def plain_rate(datamodule: GTSRBDataModule, build, epochs: int, device: torch.device) -> float:
    x, y = datamodule.tensors["train"]
    net = build(**datamodule.dims).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = datamodule.batch_size
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        net.train()
        for idx in torch.randperm(len(x)).split(batch):
            xb = x[idx].to(device).float().div_(255.0)
            yb = y[idx].to(device)
            loss = F.cross_entropy(net(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(len(x) / (time.perf_counter() - start))
    return statistics.mean(rates[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn_v1", choices=["cnn_v1", "cnn_v2", "cnn_v3"])
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--mode", default="L")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="per run, the first is warm-up")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir", default="outputs/data")
    parser.add_argument("--synthetic-fraction", type=float, default=0.2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    datamodule = GTSRBDataModule(
        source="synthetic", size=args.size, mode=args.mode, batch_size=args.batch_size,
        prepared_dir=f"{args.data_dir}/GTSRB/enhanced",
        synthetic_dir=f"{args.data_dir}/GTSRB-synthetic",
        synthetic_fraction=args.synthetic_fraction)
    datamodule.prepare_data()
    datamodule.setup("fit")
    build = getattr(cnn, args.model)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    print(f"{args.model} on {datamodule.spec.name} ({len(datamodule.tensors['train'][1])} train "
          f"images), batch {args.batch_size}, {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    runner, plain = [], []
    for repeat in range(args.repeats):
        torch.manual_seed(repeat)
        runner.append(runner_rate(datamodule, build, args.epochs, accelerator))
        torch.manual_seed(repeat)
        plain.append(plain_rate(datamodule, build, args.epochs, device))
        print(f"  repeat {repeat + 1}: fidle_runs {runner[-1]:8.0f} img/s   "
              f"plain loop {plain[-1]:8.0f} img/s")
    r, p = statistics.mean(runner), statistics.mean(plain)
    print(f"fidle_runs {r:.0f} img/s, plain PyTorch {p:.0f} img/s, ratio {r / p:.3f}")


if __name__ == "__main__":
    main()
