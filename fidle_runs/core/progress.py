"""Progress of long loops (data generation, preparation) that stays readable in a log file.

On a terminal: a tqdm bar. Otherwise (Slurm .out files, CI): one line every 10 %, no carriage
returns.
"""

import sys
import time
from typing import TextIO

from tqdm import tqdm


class Progress:
    def __init__(self, total: int, desc: str, stream: TextIO | None = None) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self._next_line = 0.1
        self._bar = tqdm(total=total, desc=desc, file=self.stream, unit="img",
                         dynamic_ncols=True) if self.stream.isatty() else None

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        fraction = self.done / max(self.total, 1)
        if fraction >= self._next_line or self.done >= self.total:
            rate = self.done / max(time.perf_counter() - self.start, 1e-9)
            print(f"{self.desc}: {self.done}/{self.total} ({fraction:.0%}, {rate:.0f} img/s)",
                  file=self.stream, flush=True)
            while self._next_line <= fraction:
                self._next_line += 0.1

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
