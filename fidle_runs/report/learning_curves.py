"""Per-epoch learning curves of a run, read from its TensorBoard event files with TensorBoard's
own reader (so a resumed run shows each epoch once, as TensorBoard does)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

STAGES = ("train", "val")


@dataclass
class Curves:
    """tag -> (epochs, values); epochs count from 1 (the value after that many epochs)."""

    series: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    problem: str | None = None

    @property
    def epochs(self) -> int:
        return max((max(e) for e, _ in self.series.values() if e), default=0)


def curve_tags(measures: Sequence[str]) -> list[str]:
    """The tags Lightning logs for `measures` (acc, mae, loss): train_acc, val_acc..."""
    return [f"{stage}_{measure}" for measure in measures for stage in STAGES]


def read_curves(run_dir: Path, measures: Sequence[str]) -> Curves:
    """The run's curves of `measures` (the monitored metric without its stage, and loss); empty
    with a `problem` when its event files are missing or unreadable."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = Path(run_dir) / "tensorboard"
    if not folder.is_dir():
        return Curves(problem="no tensorboard folder")
    try:
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        tags = set(events.Tags().get("scalars", []))
        # Lightning logs `epoch` beside every epoch-level metric, at the same step.
        epoch_at = ({e.step: int(e.value) for e in events.Scalars("epoch")} if "epoch" in tags
                    else {})
        series = {}
        for tag in curve_tags(measures):
            if tag not in tags:
                continue
            points = events.Scalars(tag)
            epochs = [epoch_at.get(p.step, n) + 1 for n, p in enumerate(points)]
            series[tag] = (epochs, [float(p.value) for p in points])
    except Exception as e:  # a truncated or foreign event file must not sink the report
        return Curves(problem=f"unreadable TensorBoard events ({type(e).__name__}: {e})")
    if not series:
        return Curves(problem="no per-epoch metrics in the TensorBoard events")
    return Curves(series)
