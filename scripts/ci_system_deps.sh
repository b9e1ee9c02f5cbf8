#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's chromium for the viewer's
# browser test (tests/viewer/test_browser.py drives it with Playwright via executable_path,
# so nothing is downloaded from Playwright's CDN). Idempotent; uses sudo when not root.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        as_root=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi
chromium --version 2>/dev/null
