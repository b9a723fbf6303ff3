"""A metric as reports use it (result.json's `primary` and `monitor`): its name, whether higher
or lower is better, whether its values are fractions shown as percentages, and how its values
are compared and written."""

from dataclasses import dataclass

MODES = ("max", "min")


@dataclass(frozen=True)
class Metric:
    name: str  # as logged: test_acc, val_mae...
    mode: str  # "max": higher is better (accuracy); "min": lower is better (MAE, loss)
    fraction: bool  # values in [0, 1], written as percentages

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"metric name is {self.name!r}, not a name")
        if self.mode not in MODES:
            raise ValueError(f"{self.name}'s mode is {self.mode!r}, not max or min")

    @property
    def measure(self) -> str:
        """The name without its stage: `acc` for test_acc and val_acc (the learning curves'
        train_acc / val_acc)."""
        return self.name.split("_", 1)[-1]

    @property
    def title(self) -> str:
        """A column of this metric's values: `test_acc %` or `test_mae`."""
        return f"{self.name} %" if self.fraction else self.name

    def better(self, value: float, than: float) -> bool:
        return value > than if self.mode == "max" else value < than

    def shown(self, value: float) -> float:
        """The value as figures and tables show it (fractions in %)."""
        return 100 * value if self.fraction else value

    def format(self, value: float | None) -> str:
        """`98.50` for a fraction, `2.391` otherwise; empty without a value."""
        if value is None:
            return ""
        return f"{self.shown(value):.2f}" if self.fraction else f"{value:.4g}"

    def with_unit(self, value: float | None) -> str:
        """`98.50 %` for a fraction, `2.391` otherwise."""
        text = self.format(value)
        return f"{text} %" if text and self.fraction else text


def stage_metric(name: str, mode: str, primary: Metric | None) -> Metric:
    """The metric `name` (e.g. the monitored val_acc), a fraction when it measures what the
    primary does at another stage (val_acc for test_acc)."""
    fraction = primary is not None and primary.fraction and \
        Metric(name, mode, False).measure == primary.measure
    return Metric(name, mode, fraction)
