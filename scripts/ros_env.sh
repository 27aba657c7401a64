# shellcheck shell=bash
# Source this file (bash) to use ROS 2 from the venv and the built ros2_ws workspace:
#
#   source scripts/ros_env.sh          # from any directory
#   .venv/bin/python -c 'import rclpy, semcorr_msgs.msg'
#
# Uses the venv at $SEMCORR_VENV, default <repo>/.venv. Returns non-zero (and says to run
# `make setup`) when ROS is not installed in the venv or the workspace is not built.
# Safe to source more than once. Defaults that a caller may override beforehand:
#   RMW_IMPLEMENTATION=rmw_fastrtps_cpp, ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST.
# ROS_DOMAIN_ID is left alone (tests choose their own).

_semcorr_ros_env() {
  local root venv site ws d
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  venv="${SEMCORR_VENV:-$root/.venv}"
  [ -d "$venv" ] && venv="$(cd "$venv" && pwd)"
  ws="$root/ros2_ws"

  site=""
  for d in "$venv"/lib/python3*/site-packages; do
    if [ -d "$d/rclpy" ]; then site="$d"; break; fi
  done
  if [ -z "$site" ]; then
    echo "ros_env.sh: ROS 2 is not installed in the venv '$venv': run make setup" \
         "(or: bash scripts/setup_ros.sh $venv)" >&2
    return 1
  fi
  if [ ! -f "$ws/install/setup.bash" ]; then
    echo "ros_env.sh: the workspace $ws is not built: run make setup" \
         "(or: bash scripts/setup_ros.sh $venv)" >&2
    return 1
  fi

  # The venv is the underlay: AMENT_PREFIX_PATH must hold it before the overlay's setup.bash
  # is sourced, or rclpy cannot find the rmw implementation and message packages.
  case ":${AMENT_PREFIX_PATH:-}:" in
    *":$venv:"*) ;;
    *) AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
  esac
  export AMENT_PREFIX_PATH

  # colcon's scripts read unset variables; do not let a caller's `set -u` break them.
  local had_u=0
  case $- in *u*) had_u=1; set +u ;; esac
  # shellcheck disable=SC1091
  source "$ws/install/setup.bash"
  [ "$had_u" = 1 ] && set -u

  # Shared libraries: the workspace, the venv's lib/ and the wheels' bundled ros_*.libs.
  # Setting them here (and the bootstrapper's guard) spares every Python start the
  # ros_wheels_bootstrapper re-exec that would otherwise do the same.
  local ld="$ws/install/lib:$venv/lib"
  for d in "$site"/ros_*.libs; do
    [ -d "$d" ] && ld="$ld:$d"
  done
  ld="$ld:${LD_LIBRARY_PATH:-}"
  # de-duplicate, drop empty entries (an empty entry would mean the current directory)
  local out="" IFS=":"
  for d in $ld; do
    [ -n "$d" ] || continue
    case ":$out:" in *":$d:"*) ;; *) out="${out:+$out:}$d" ;; esac
  done
  export LD_LIBRARY_PATH="$out"
  export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1

  case ":$PATH:" in *":$venv/bin:"*) ;; *) export PATH="$venv/bin:$PATH" ;; esac

  export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
  export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
  export ROS_VERSION=2 ROS_PYTHON_VERSION=3
  export ROS_DISTRO="${ROS_DISTRO:-kilted}"
  export SEMCORR_ROS_ENV="$ws/install"
  return 0
}
if _semcorr_ros_env; then
  unset -f _semcorr_ros_env
else
  unset -f _semcorr_ros_env
  # shellcheck disable=SC2317  # exit: only when executed instead of sourced
  return 1 2>/dev/null || exit 1
fi
