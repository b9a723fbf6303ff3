"""Speed of our Keras recurrent ports (relu, models/recurrent_cells.py) next to PyTorch's tanh-only
nn.GRU / nn.LSTM, on FIDLE's shapes, forward and backward, per batch.

    python scripts/benchmark_recurrent.py               # CPU, and CUDA where there is one
    python scripts/benchmark_recurrent.py --compile     # adds the ports under torch.compile
    python scripts/benchmark_recurrent.py --threads 1   # one CPU thread

Shapes: LADYB1's GRU (batch 32, window 20, 2 inputs, 200 units) and SYNOP2's LSTM (batch 32,
window 16, 12 inputs, 100 units). A timed call is one batch: the layer on a random batch, the
sum of its last state, backward. Variants: `port` (the eager layer as the networks use it),
`port scripted` (the same recurrence through torch.jit.script), `port compiled` (torch.compile of
the layer, with --compile), `nn.*` (PyTorch's module, tanh; cuDNN on a GPU). The variants are
timed in alternation, round after round, so that they share the machine's load; a row gives the
median ms per batch over the rounds and its ratio to nn.*.
"""

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from fidle_runs.models.recurrent_cells import KerasGRU, KerasLSTM, gru_steps, lstm_steps

SHAPES = {  # name: (port, PyTorch module, batch, window, inputs, hidden)
    "LADYB1 GRU": (KerasGRU, nn.GRU, 32, 20, 2, 200),
    "SYNOP2 LSTM": (KerasLSTM, nn.LSTM, 32, 16, 12, 100),
}


def scripted(layer: KerasGRU | KerasLSTM) -> Callable[[Tensor], Tensor]:
    """The layer's computation with its recurrence compiled by TorchScript."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated
        steps = torch.jit.script(gru_steps if isinstance(layer, KerasGRU) else lstm_steps)

    def run(x: Tensor) -> Tensor:
        gx = nn.functional.linear(x, layer.weight_ih_l0, layer.bias_ih_l0)
        h = x.new_zeros(x.shape[0], layer.hidden_size)
        if isinstance(layer, KerasGRU):
            return steps(gx, layer.weight_hh_l0, layer.bias_hh_l0, h, layer.activation)[1]
        return steps(gx, layer.weight_hh_l0, h, torch.zeros_like(h), layer.activation)[1]

    return run


def last_state(module: nn.Module) -> Callable[[Tensor], Tensor]:
    def run(x: Tensor) -> Tensor:
        state = module(x)[1]
        return state[0] if isinstance(state, tuple) else state

    return run


def variants(shape: str, device: torch.device, compile_too: bool
             ) -> dict[str, Callable[[Tensor], Tensor]]:
    port_class, torch_class, _, _, inputs, hidden = SHAPES[shape]
    port = port_class(inputs, hidden, activation="relu").to(device)
    found = {"port": last_state(port), "port scripted": scripted(port)}
    if compile_too:
        found["port compiled"] = last_state(torch.compile(port))
    found[f"nn.{torch_class.__name__} (tanh)"] = last_state(
        torch_class(inputs, hidden, batch_first=True).to(device))
    return found


def one_batch(run: Callable[[Tensor], Tensor], x: Tensor, device: torch.device) -> float:
    start = time.perf_counter()
    run(x).sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure(shape: str, device: torch.device, rounds: int, per_round: int,
            compile_too: bool) -> dict[str, float]:
    """Median ms per batch of each variant, the variants alternating round by round."""
    _, _, batch, window, inputs, _ = SHAPES[shape]
    torch.manual_seed(0)
    x = torch.randn(batch, window, inputs, device=device)
    runs = variants(shape, device, compile_too)
    for run in runs.values():  # warm up: scripting's profiling runs, compilation, cuDNN plans
        for _ in range(5):
            one_batch(run, x, device)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            total = sum(one_batch(run, x, device) for _ in range(per_round))
            times[name].append(1000 * total / per_round)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=20, help="batches per round")
    parser.add_argument("--compile", action="store_true", help="add the ports under torch.compile")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's); 1 on a "
                        "machine others load, where spinning threads wait for each other")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    for device in devices:
        for shape, (_, _, batch, window, inputs, hidden) in SHAPES.items():
            ms = measure(shape, device, args.rounds, args.per_round, args.compile)
            reference = ms[next(name for name in ms if name.startswith("nn."))]
            print(f"\n{device.type} {shape}: batch {batch}, window {window}, {inputs} inputs, "
                  f"{hidden} units; forward + backward, ms per batch")
            for name, value in ms.items():
                print(f"  {name:<18} {value:8.3f} ms   x{value / reference:5.2f}")


if __name__ == "__main__":
    main()
