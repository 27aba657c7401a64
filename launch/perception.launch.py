"""Launch the semcorr perception node (and optionally RViz) on a ROS 2 install.

    ros2 launch semcorr_ros perception.launch.py namespace:=camera/camera category:=mug rviz:=true

Arguments (all optional): namespace, color_topic, depth_topic, camera_info_topic, mask_topic
(remaps of the node's relative inputs), category, model (bundle path, '' = the shipped one),
backend (embedding runtime -> parameter ``backend``), device (cpu, cuda, cuda:N -> parameter ``device``), params_file (default: the
installed params/perception.yaml), rviz (true/false). The node gets ``params_file`` first and the
argument overrides after it, so the arguments win over the file.

Where ``ros2 launch`` is not available (the PyPI ROS wheels have no ``launch``), ``semcorr ros run``
starts the same node with the same parameter file (see semcorr_ros/README.md).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("semcorr_ros")
    arguments = [
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node; its relative inputs resolve under it"),
        DeclareLaunchArgument("color_topic", default_value="color/image_raw",
                              description="colour image (rgb8/bgr8)"),
        DeclareLaunchArgument("depth_topic", default_value="aligned_depth_to_color/image_raw",
                              description="depth registered to colour (16UC1 mm or 32FC1 m)"),
        DeclareLaunchArgument("camera_info_topic", default_value="color/camera_info",
                              description="CameraInfo of the colour image"),
        DeclareLaunchArgument("mask_topic", default_value="mask",
                              description="instance mask (used when the parameter use_mask is true)"),
        DeclareLaunchArgument("category", default_value="mug",
                              description="category to detect: mug, bottle, bowl, can, chair; or several, "
                                          "comma-separated in priority order (mug,bottle,can)"),
        DeclareLaunchArgument("model", default_value="",
                              description="model bundle path (one per category, comma-separated); empty = the "
                                          "bundles shipped with semcorr_core"),
        DeclareLaunchArgument("backend", default_value="auto",
                              description="embedding network runtime: auto, torch, onnxruntime, tensorrt"),
        DeclareLaunchArgument("device", default_value="cpu",
                              description="inference device: cpu, cuda or cuda:N"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([share, "params", "perception.yaml"]),
                              description="parameter YAML (keyed /**/semcorr_perception)"),
        DeclareLaunchArgument("rviz", default_value="false",
                              description="also start RViz with share/semcorr_ros/rviz/perception.rviz"),
    ]

    perception = Node(
        package="semcorr_ros",
        executable="perception_node",
        name="semcorr_perception",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "category": ParameterValue(LaunchConfiguration("category"), value_type=str),
                "model_bundle": ParameterValue(LaunchConfiguration("model"), value_type=str),
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
                "backend": ParameterValue(LaunchConfiguration("backend"), value_type=str),
            },
        ],
        remappings=[
            ("color/image_raw", LaunchConfiguration("color_topic")),
            ("aligned_depth_to_color/image_raw", LaunchConfiguration("depth_topic")),
            ("color/camera_info", LaunchConfiguration("camera_info_topic")),
            ("mask", LaunchConfiguration("mask_topic")),
        ],
    )

    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="semcorr_rviz",
        arguments=["-d", PathJoinSubstitution([share, "rviz", "perception.rviz"])],
        output="screen",
        condition=IfCondition(LaunchConfiguration("rviz")),
    )

    return LaunchDescription(arguments + [perception, rviz])
