#!/usr/bin/env bash
# Installs Mesa's Vulkan software driver (lavapipe) from bookworm-backports so Dawn finds an adapter on a
# machine without a GPU. Bookworm's own Mesa 22 is too old for Dawn; Mesa 25 from backports works.
# Idempotent: does nothing when lavapipe (Mesa >= 23) is already installed.
set -euo pipefail
have_new_mesa() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 23 && dpkg-query -W libvulkan1 >/dev/null 2>&1
}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# Only when Dawn finds no adapter (a machine with a GPU driver, or lavapipe already there, needs nothing).
probe_msg=""
if [ -x node_modules/.bin/bun ]; then
  if probe_msg=$(node_modules/.bin/bun src/cli/probe.ts 2>&1); then exit 0; fi
fi
if have_new_mesa; then
  echo "lavapipe: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"
  # Installed, yet Dawn finds no adapter: installing again cannot fix that (e.g. VK_ICD_FILENAMES points
  # nowhere). Say what the probe found instead of sending the user back here.
  if [ -n "$probe_msg" ]; then echo "$probe_msg" | grep -v '^Warning: \|^    at ' >&2; exit 1; fi
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
src=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  $SUDO tee "$src" >/dev/null <<'EOS'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "lavapipe: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
