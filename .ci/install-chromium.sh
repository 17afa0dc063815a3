#!/usr/bin/env bash
# Installs Debian's chromium for the headless-browser test (test/integration/browser.test.ts), after
# install-lavapipe.sh: Chromium's WebGPU runs on the same lavapipe (Vulkan) driver. Idempotent.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then echo "chromium: $(dpkg-query -W -f='${Version}' chromium 2>/dev/null || chromium --version) already installed"; exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# -t bookworm-backports lets apt take the Mesa libraries chromium needs (libgbm1, libegl-mesa0) at the version
# lavapipe already brought in, instead of asking for bookworm's Mesa 22 beside it.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports chromium >/dev/null
echo "chromium: installed $(dpkg-query -W -f='${Version}' chromium)"
