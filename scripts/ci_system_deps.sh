#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's chromium for the viewer's
# browser test (tests/viewer/test_browser.py drives it with Playwright via executable_path,
# so no browser download from the Playwright CDN is needed). Idempotent; run as root.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi
chromium --version
