#!/usr/bin/env bash
# Debian packages the tests need: Xvfb and the X/GL libraries Qt 6 loads (napari tests), and
# Chromium with its WebDriver (the report's browser test, tests/imaging/test_report_browser.py).
# Installs only what is missing; uses sudo when not root.
set -euo pipefail
packages=(xvfb xauth libgl1 libegl1 libglx-mesa0 libgl1-mesa-dri libglib2.0-0 libfontconfig1
  libdbus-1-3 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
  chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
