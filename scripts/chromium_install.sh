#!/usr/bin/env bash
# Install Debian's Chromium (headless browser of the report's render test) when it is missing.
# Needs root and Debian's package mirror; prints where chromium is.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || { echo "chromium is missing and installing it needs root" >&2; exit 1; }
    log=${TMPDIR:-/tmp}/fidle-chromium-apt.log
    echo "installing chromium (apt-get, log in $log)" >&2
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
    } >"$log" 2>&1 || { echo "apt-get install chromium failed, see $log" >&2; tail -n 5 "$log" >&2; exit 1; }
fi
command -v chromium
