"""Training speed of FIDLE's IMDB5 LSTM (models/text.py: imdb_lstm, its defaults: embedding 128,
LSTM 128, dropout and recurrent_dropout 0.2) with our Keras cell next to nn.LSTM, packed and not.

    python scripts/benchmark_text_lstm.py                         # batch 64, maxlen 256, CPU
    python scripts/benchmark_text_lstm.py --threads 1 --steps 5   # one CPU thread, short
    python scripts/benchmark_text_lstm.py --device cuda

A timed step trains on one batch: forward, binary cross-entropy, backward, Adam step. The batch
is random ids of a 10,000-word vocabulary, post-padded, each text's length uniform in
[1, maxlen]. `keras` is our port (a Python loop over the steps, with recurrent dropout), `fast`
nn.LSTM (without it; cuDNN on a GPU); `packed` reads each text to its last token, `unpacked`
to maxlen. The variants take turns, round after round, so that they share the machine's load;
a cell gives the median samples/s over the rounds, after `--warmup` steps of each.

On a CPU, reading the padding to maxlen (`unpacked`) makes the gradients that flow back through
it vanish into denormal floats, which the CPU computes slowly: `--flush-denormal` sets them to
zero (torch.set_flush_denormal) to see how much of the time they take.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from fidle_runs.models.text import imdb_lstm

VOCAB = 10_000
CELLS = ("keras", "fast")
READINGS = {"packed": True, "unpacked": False}


def random_texts(batch: int, maxlen: int, device: torch.device) -> Tensor:
    ids = torch.randint(1, VOCAB, (batch, maxlen), device=device)
    lengths = torch.randint(1, maxlen + 1, (batch, 1), device=device)
    return ids * (torch.arange(maxlen, device=device) < lengths)


def trainer(cell: str, packed: bool, x: Tensor, y: Tensor,
            device: torch.device) -> Callable[[], None]:
    """One training step of a fresh imdb_lstm, as a function timed in place."""
    net = imdb_lstm((x.shape[1],), 1, vocab_size=VOCAB, cell=cell, packed=packed).to(device)
    optimizer = torch.optim.Adam(net.parameters())

    def step() -> None:
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(net(x).squeeze(-1), y).backward()
        optimizer.step()

    return step


def timed(step: Callable[[], None], steps: int, device: torch.device) -> float:
    """Seconds for `steps` training steps."""
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure(batch: int, maxlen: int, steps: int, warmup: int, rounds: int,
            device: torch.device) -> dict[tuple[str, str], float]:
    """Median samples/s of each (reading, cell), the variants alternating round by round."""
    torch.manual_seed(0)
    x = random_texts(batch, maxlen, device)
    y = torch.randint(0, 2, (batch,), device=device).float()
    runs = {(reading, cell): trainer(cell, packed, x, y, device)
            for reading, packed in READINGS.items() for cell in CELLS}
    for step in runs.values():
        timed(step, warmup, device)
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, step in runs.items():
            rates[key].append(batch * steps / timed(step, steps, device))
    return {key: statistics.median(r) for key, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--maxlen", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps of each first")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's); 1 on a "
                        "machine others load, where spinning threads wait for each other")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="compute denormal floats as zeros on the CPU")
    args = parser.parse_args()
    torch.set_flush_denormal(args.flush_denormal)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (", denormals flushed" if args.flush_denormal else "") + f", {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    print(f"imdb_lstm, vocab {VOCAB:,}, batch {args.batch}, maxlen {args.maxlen} (lengths "
          f"uniform in [1, {args.maxlen}]); forward + backward + Adam step; samples/s, median "
          f"of {args.rounds} rounds of {args.steps} steps")
    rates = measure(args.batch, args.maxlen, args.steps, args.warmup, args.rounds, device)
    print(f"  {'':<10}{'keras':>10}{'fast':>10}{'keras/fast':>12}")
    for reading in READINGS:
        keras, fast = rates[reading, "keras"], rates[reading, "fast"]
        print(f"  {reading:<10}{keras:10.1f}{fast:10.1f}{keras / fast:12.2f}")


if __name__ == "__main__":
    main()
