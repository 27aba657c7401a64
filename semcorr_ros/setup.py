"""ament_python package semcorr_ros: the rclpy perception node, its launch file, parameters and
RViz config.

The launch file and parameter YAML live in the repository's top-level ``launch/`` folder (the
layout of MISSION.md); ``semcorr_ros/launch`` is a symlink to it so that they install from here
into ``share/semcorr_ros`` and a change to them changes this package's source hash (the colcon
workspace links this folder as ``ros2_ws/src/semcorr_ros``).
"""

from glob import glob

from setuptools import setup

PACKAGE = "semcorr_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml", "README.md"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py"))),
        (f"share/{PACKAGE}/params", sorted(glob("launch/params/*.yaml"))),
        (f"share/{PACKAGE}/rviz", sorted(glob("rviz/*.rviz"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="semcorr maintainers",
    maintainer_email="semcorr@example.com",
    description="ROS 2 node: RGB-D in, named metric category-level semantic keypoints out.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "perception_node = semcorr_ros.node:main",
            "grasp_example = semcorr_ros.grasp_example:main",
        ],
    },
)
