#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Install headless Chromium from Debian's packages for the dashboard browser test.
# Idempotent: does nothing when a working chromium is already on PATH.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && chromium --version >/dev/null 2>&1; then
    echo "chromium already installed: $(chromium --version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "Failed to install chromium: not root and sudo is not available" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
chromium --version
