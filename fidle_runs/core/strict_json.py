"""JSON text that every parser reads: no bare NaN or Infinity (Python's json writes them by
default; jq, JavaScript and most other readers refuse the whole file).

The convention for every JSON file the project writes: a float that is not finite is written as
null, and the top-level object gets a `nonfinite` map from where it was (keys joined with `.`,
list items by their index: `metrics.test_loss`, `runs.3.primary_value`) to what it was
(`nan`, `inf`, `-inf`); where the top level is a list, each object in it carries its own map.
Readers that only want numbers see null; readers that care why read
the map. Data read back from such a file and written again keeps the reasons of the values that
are still null.
"""

import json
import math
from collections.abc import Mapping
from typing import Any

NONFINITE_KEY = "nonfinite"


def dumps(data: Any) -> str:
    """`data` as strict JSON text, its non-finite floats written as null and named in the
    `nonfinite` map of the outermost object holding them."""
    return json.dumps(strict(data), indent=2, allow_nan=False)


def strict(data: Any) -> Any:
    """`data` as `dumps` writes it: each non-finite float null, and named."""
    if isinstance(data, list | tuple):
        return [strict(item) for item in data]
    if not isinstance(data, Mapping):
        return _finite(data, "", {})
    reasons: dict[str, str] = {}
    finite = {key: _finite(value, str(key), reasons) for key, value in data.items()
              if key != NONFINITE_KEY}
    kept = {path: why for path, why in (data.get(NONFINITE_KEY) or {}).items()
            if _is_null_at(finite, path)}
    reasons = {**kept, **reasons}
    if reasons:
        finite[NONFINITE_KEY] = reasons
    return finite


def _finite(value: Any, path: str, reasons: dict[str, str]) -> Any:
    """`value` with every non-finite float inside it replaced by None, noted in `reasons`."""
    if isinstance(value, float) and not math.isfinite(value):
        reasons[path] = "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
        return None
    if isinstance(value, Mapping):
        return {key: _finite(item, f"{path}.{key}", reasons) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item, f"{path}.{n}", reasons) for n, item in enumerate(value)]
    return value


def _is_null_at(data: Any, path: str) -> bool:
    """Whether `path` (as in the `nonfinite` map) leads to a null in `data`."""
    for part in path.split("."):
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return False
    return data is None
