#!/usr/bin/env bash
# Container entry point: ROS 2 Jazzy, the semcorr workspace and the Python venv, then the command
# (default: the perception launch file with the camera topics from the environment, see compose.yaml).
set -eo pipefail
# shellcheck disable=SC1091
source /opt/ros/jazzy/setup.bash
# shellcheck disable=SC1091
source /opt/semcorr/ros2_ws/install/setup.bash
# the node's console script runs on the system python3; torch, onnxruntime, semcorr_core live in the venv
VENV_SITE="$(/opt/semcorr/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
export PYTHONPATH="${VENV_SITE}${PYTHONPATH:+:${PYTHONPATH}}"
export PATH="/opt/semcorr/.venv/bin:${PATH}"
if [ "$#" -eq 0 ]; then
    set -- ros2 launch semcorr_ros perception.launch.py \
        "namespace:=${CAMERA_NAMESPACE:-camera}" \
        "color_topic:=${COLOR_TOPIC:-color/image_raw}" \
        "depth_topic:=${DEPTH_TOPIC:-aligned_depth_to_color/image_raw}" \
        "camera_info_topic:=${CAMERA_INFO_TOPIC:-color/camera_info}" \
        "category:=${CATEGORY:-mug}" \
        "backend:=${BACKEND:-auto}" \
        "device:=${DEVICE:-cpu}"
fi
exec "$@"
