#!/usr/bin/env bash
# System packages the Python wheels need but do not declare (Debian/Ubuntu). Idempotent.
set -euo pipefail
need=()
for pkg in libusb-1.0-0 libgomp1 python3-venv; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# python3-venv is only needed where python3 has no venv module of its own (distribution Pythons).
if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need=("${need[@]/python3-venv}")
fi
need=($(printf '%s\n' "${need[@]}" | grep -v '^$' || true))
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
