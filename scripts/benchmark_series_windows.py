"""Memory of a series served as windows: a 1M-step, 12-feature series with window 32 as the
series datamodules hold it (fidle_runs.data.series), against the series' own memory.

    python scripts/benchmark_series_windows.py [--steps 1000000] [--features 12] [--window 32]

Prints one line: the z-scored series' bytes, the bytes actually allocated for x and y of all
splits (each storage counted once: untyped_storage().nbytes()), their ratio, and what the
device placement would copy (fidle_runs.data.placement.distinct_bytes). Windows as copies would
take window x the series.
"""

import argparse

import numpy as np

from fidle_runs.data.placement import distinct_bytes
from fidle_runs.data.series.datamodule import SeriesDataModule
from fidle_runs.data.series.frame import Series


class RandomWalks(SeriesDataModule):
    """`features` seeded random walks of `steps` steps, one a second."""

    def __init__(self, steps: int, features: int, window: int) -> None:
        super().__init__(window=window, batch_size=32)
        self.steps, self.n_features = steps, features

    @property
    def name(self) -> str:
        return f"random walks {self.steps}x{self.n_features}"

    def read(self) -> Series:
        rng = np.random.default_rng(0)
        values = rng.standard_normal((self.steps, self.n_features)).cumsum(axis=0)
        return Series(np.arange(self.steps, dtype=np.float64), values,
                      [f"f{i}" for i in range(self.n_features)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=12)
    parser.add_argument("--window", type=int, default=32)
    args = parser.parse_args()
    datamodule = RandomWalks(args.steps, args.features, args.window)
    datamodule.setup("fit")
    tensors = [t for pair in datamodule.tensors.values() for t in pair]
    series_bytes = args.steps * args.features * 4  # float32, as trained
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    allocated = sum(storages.values())
    as_copies = sum(t.nbytes for t in tensors)
    windows = {split: len(y) for split, (_, y) in datamodule.tensors.items()}
    print(f"series {args.steps:,} steps x {args.features} features (float32): "
          f"{series_bytes / 2**20:.1f} MiB; windows of {args.window} {windows}: x and y of all "
          f"splits allocate {allocated / 2**20:.1f} MiB in {len(storages)} storage(s), ratio "
          f"{allocated / series_bytes:.3f}; the device copy takes "
          f"{distinct_bytes(tensors) / 2**20:.1f} MiB; as copies they would take "
          f"{as_copies / 2**20:.1f} MiB ({as_copies / series_bytes:.1f}x)")


if __name__ == "__main__":
    main()
