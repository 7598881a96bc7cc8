#!/usr/bin/env bash
# Install the data qat_mnist trains on: Debian's dataset-fashion-mnist package
# (IDX files, gzip'd, in /usr/share/datasets/fashion-mnist). Safe to re-run.
set -euo pipefail
pkg=dataset-fashion-mnist
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "qat_mnist: run as root: apt-get install $pkg" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$pkg"
