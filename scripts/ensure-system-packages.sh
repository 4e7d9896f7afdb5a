#!/usr/bin/env bash
# Installs the Debian packages the project needs when they are missing.
#   venv     python3-venv (to create the virtual environment)
#   browser  chromium and fonts-noto-cjk (browser journeys, Chinese text in screenshots)
set -euo pipefail
what=${1:-browser}
case "$what" in
  venv) packages=(python3-venv) ;;
  browser) packages=(chromium fonts-noto-cjk) ;;
  *) echo "usage: $0 venv|browser" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
