"""semcorr_ros: the ROS 2 (rclpy) perception node of semcorr.

Modules: :mod:`~semcorr_ros.node` (the node, console script ``perception_node``),
:mod:`~semcorr_ros.runner` (``semcorr ros run``: the node with the launch file's parameter file,
where ``ros2 launch`` is not available), and helpers without a ROS graph:
:mod:`~semcorr_ros.params`, :mod:`~semcorr_ros.sync`, :mod:`~semcorr_ros.conversions`,
:mod:`~semcorr_ros.correspondence`, :mod:`~semcorr_ros.markers`, :mod:`~semcorr_ros.diagnostics`.
Importing the package imports nothing of ROS.
"""

__version__ = "0.1.0"
