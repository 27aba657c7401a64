#!/usr/bin/env bash
# Install ROS 2 (kilted, from the PyPI wheels) into a Python venv and build the colcon
# workspace ros2_ws/ (semcorr_msgs and whatever else lies in ros2_ws/src).
#
#   bash scripts/setup_ros.sh [VENV]      # VENV defaults to .venv (relative to the cwd)
#
# Idempotent: every step checks first and does nothing when its result is already there, so a
# re-run takes a few seconds. Steps:
#   1. apt: cmake, g++, make and the Python headers of the venv's interpreter (only if missing)
#   2. pip: requirements-ros.txt (exact pins; skipped when every pin is already installed)
#   3. fix the wheel builder's /opt/python/... include paths in the exported CMake files
#      (inside the venv only)
#   4. colcon build --merge-install in ros2_ws/ (skipped when sources and toolchain are unchanged)
#   5. smoke test: import rclpy and semcorr_msgs.msg with scripts/ros_env.sh sourced
#
# Environment knobs: SEMCORR_FORCE_BUILD=1 rebuilds the workspace from scratch;
# SEMCORR_SKIP_APT=1 never calls apt-get (reports what is missing instead).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WS="$ROOT/ros2_ws"
REQ="$ROOT/requirements-ros.txt"
VENV_ARG="${1:-.venv}"

log() { printf '[setup_ros] %s\n' "$*"; }
die() { printf '[setup_ros] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$VENV_ARG/bin/python" ] || die "no venv at '$VENV_ARG' (cwd $(pwd)). Create it first:
    python3 -m venv $VENV_ARG && $VENV_ARG/bin/pip install -r requirements.txt"
VENV="$(cd "$VENV_ARG" && pwd)"
PY="$VENV/bin/python"
t_start=$SECONDS

# Run venv Python helpers without the ROS wheels' bootstrapper re-exec and without any ROS
# workspace a calling shell may have sourced.
pyq() {
  env -u PYTHONPATH _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$PY" "$@"
}

PYVER="$(pyq -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
PYINC="$(pyq -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"

# ---------------------------------------------------------------------------------------------
# 1. System packages (compiler, cmake, Python headers)
# ---------------------------------------------------------------------------------------------
apt_pkgs=()
command -v cmake >/dev/null 2>&1 || apt_pkgs+=(cmake)
command -v g++ >/dev/null 2>&1 || apt_pkgs+=(g++)
command -v make >/dev/null 2>&1 || apt_pkgs+=(make)
if [ ! -f "$PYINC/Python.h" ]; then
  case "$PYINC" in
    /usr/include/*) apt_pkgs+=("libpython$PYVER-dev") ;;
    *) die "Python.h not found in $PYINC, and this interpreter is not Debian's: install its headers" ;;
  esac
fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  [ "${SEMCORR_SKIP_APT:-0}" = 1 ] && die "missing system packages: ${apt_pkgs[*]} (SEMCORR_SKIP_APT=1)"
  command -v apt-get >/dev/null 2>&1 || die "missing system packages: ${apt_pkgs[*]} (no apt-get here)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install ${apt_pkgs[*]}"
    SUDO="sudo"
  fi
  log "apt-get install ${apt_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"
  [ -f "$PYINC/Python.h" ] || die "Python.h still missing in $PYINC"
else
  log "system packages: present"
fi

# ---------------------------------------------------------------------------------------------
# 2. Python packages (exact pins)
# ---------------------------------------------------------------------------------------------
pins_ok() {
  pyq - "$REQ" <<'EOF'
import re, sys
from importlib import metadata
bad = []
for line in open(sys.argv[1]):
    line = line.split('#', 1)[0].strip()
    if not line:
        continue
    name, _, ver = line.partition('==')
    try:
        have = metadata.version(name.strip())
    except metadata.PackageNotFoundError:
        have = None
    if have != ver.strip():
        bad.append(f'{name.strip()} (want {ver.strip()}, have {have})')
if bad:
    print('to install: ' + ', '.join(bad[:5]) + (' ...' if len(bad) > 5 else ''))
    sys.exit(1)
EOF
}
if pins_ok >/dev/null; then
  log "pip: requirements-ros.txt already satisfied"
else
  log "pip: $(pins_ok || true)"
  pyq -m pip install --quiet -r "$REQ"
  pins_ok >/dev/null || die "pip install finished but pins are still unmet: $(pins_ok || true)"
fi

# ---------------------------------------------------------------------------------------------
# 3. The wheels' exported CMake files name the wheel builder's interpreter
#    (/opt/python/cp3XX-cp3XX/...). Point them at this venv's interpreter, inside the venv only.
# ---------------------------------------------------------------------------------------------
mapfile -t bad_cmake < <(grep -rlE --include='*.cmake' '/opt/python/cp[0-9]+-cp[0-9]+' \
  "$VENV/share" "$VENV/lib/cmake" 2>/dev/null || true)
if [ "${#bad_cmake[@]}" -gt 0 ]; then
  log "fixing /opt/python paths in ${#bad_cmake[@]} exported CMake files"
  pyq - "$PYINC" "${bad_cmake[@]}" <<'EOF'
import re, sys, sysconfig
import numpy
pyinc, files = sys.argv[1], sys.argv[2:]
site = sysconfig.get_paths()['purelib']
prefix = sys.prefix
np_inc = numpy.get_include()
root = r'/opt/python/cp[0-9]+-cp[0-9]+t?'
subs = [
    (re.compile(root + r'/lib/python3\.[0-9]+/site-packages/numpy/(_core|core)/include'), np_inc),
    (re.compile(root + r'/include/python3\.[0-9]+t?'), pyinc),
    (re.compile(root + r'/lib/python3\.[0-9]+/site-packages'), site),
    (re.compile(root), prefix),
]
for f in files:
    text = open(f).read()
    new = text
    for pat, rep in subs:
        new = pat.sub(lambda m: rep, new)
    if new != text:
        open(f, 'w').write(new)
EOF
else
  log "exported CMake files: already fixed"
fi

# ---------------------------------------------------------------------------------------------
# 4. colcon build
# ---------------------------------------------------------------------------------------------
# Stamp: what the build depends on. A change (sources, pins, venv, location, this script)
# triggers a build; a change of venv or workspace location also wipes build/ and install/,
# whose CMake caches hold absolute paths.
src_hash="$(cd "$WS" && find -L src -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
loc_key="venv=$VENV ws=$WS"
key="$loc_key src=$src_hash req=$(sha256sum "$REQ" | cut -d' ' -f1) script=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
stamp="$WS/build/.semcorr_setup_stamp"
old_key="$(cat "$stamp" 2>/dev/null || true)"

if [ "${SEMCORR_FORCE_BUILD:-0}" = 1 ] || { [ -n "$old_key" ] && [ "${old_key#"$loc_key "}" = "$old_key" ]; }; then
  log "colcon: clean rebuild (forced, or venv/workspace moved)"
  rm -rf "$WS/build" "$WS/install" "$WS/log"
  old_key=""
fi

if [ "$old_key" = "$key" ] && [ -f "$WS/install/setup.bash" ]; then
  log "colcon: workspace up to date"
else
  log "colcon build in $WS"
  (
    cd "$WS"
    # A clean environment: only the venv's ROS, nothing a calling shell may have sourced.
    # The bootstrapper guard is dropped so that colcon's Python sets LD_LIBRARY_PATH itself.
    env -u AMENT_PREFIX_PATH -u CMAKE_PREFIX_PATH -u COLCON_PREFIX_PATH -u PYTHONPATH \
        -u LD_LIBRARY_PATH -u _ROS_WHEELS_BOOTSTRAP_COMPLETE \
        PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" \
        MAKEFLAGS="-j$(nproc)" \
      "$VENV/bin/colcon" --log-level error build --merge-install --event-handlers console_cohesion- summary+ \
        --cmake-args -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
                     "-DPython3_EXECUTABLE=$VENV/bin/python"
  ) || die "colcon build failed; logs in $WS/log/latest_build"
  mkdir -p "$WS/build"
  printf '%s\n' "$key" > "$stamp"
fi

# ---------------------------------------------------------------------------------------------
# 5. Smoke test in the environment the tests use
# ---------------------------------------------------------------------------------------------
(
  export SEMCORR_VENV="$VENV"
  # shellcheck source=scripts/ros_env.sh
  source "$ROOT/scripts/ros_env.sh" >/dev/null
  "$VENV/bin/python" -c 'import rclpy, semcorr_msgs.msg, semcorr_ros.node, geometry_msgs.msg, sensor_msgs.msg, visualization_msgs.msg, diagnostic_msgs.msg'
) || die "smoke test failed: cannot import rclpy / semcorr_msgs.msg with scripts/ros_env.sh"

log "done in $((SECONDS - t_start)) s. Use:  source scripts/ros_env.sh"
