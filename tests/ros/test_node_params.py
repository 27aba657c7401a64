"""Parameters, launch file and package metadata of semcorr_ros agree with each other and with the
running node.

- the parameter table, ``launch/params/perception.yaml`` and what a running node declares (asked
  over DDS through its parameter services) list the same parameters with the same defaults;
- ``launch/perception.launch.py`` (``launch`` is not installed here, so it is read as Python AST)
  declares every launch argument it uses and starts the node's console script with remappings
  of the node's real input topics;
- package.xml / setup.py / the colcon install carry what ``ros2 launch`` needs;
- a bad parameter ends the node with exit code 2 and a message naming it; runtime changes are
  validated.
"""

from __future__ import annotations

import ast
import signal
import xml.etree.ElementTree as ET

import pytest
import yaml

from .test_node_support import (
    LAUNCH_FILE, NODE, PARAMS_YAML, REPO, SOURCE_PKG, Listener, run_node_to_exit, start_node, use_source_tree,
)

use_source_tree()

from semcorr_ros.params import NODE_NAME, PARAMETERS, RUNTIME_MUTABLE, ParameterError, check_value  # noqa: E402

YAML_KEY = f"/**/{NODE_NAME}"
RCLPY_OWN = {"use_sim_time", "start_type_description_service"}  # declared by rclpy for every node


def _yaml_params() -> dict:
    doc = yaml.safe_load(PARAMS_YAML.read_text())
    assert list(doc) == [YAML_KEY], f"{PARAMS_YAML} must hold one node key {YAML_KEY!r}, has {list(doc)}"
    return doc[YAML_KEY]["ros__parameters"]


# ---------------------------------------------------------------------------------------------
# table <-> YAML (no ROS graph)
# ---------------------------------------------------------------------------------------------
def test_yaml_lists_every_parameter_with_its_default_and_type():
    got = _yaml_params()
    want = {p.name: p.default for p in PARAMETERS}
    assert set(got) == set(want), f"missing in YAML: {set(want) - set(got)}; unknown in YAML: {set(got) - set(want)}"
    for name, default in want.items():
        # a YAML 0 for a double would make the node exit with a type error: types must match too
        assert type(got[name]) is type(default), f"{name}: YAML {got[name]!r} vs default {default!r}"
        assert got[name] == default, f"{name}: YAML {got[name]!r} vs default {default!r}"
        check_value(name, default)


def test_parameter_checks():
    check_value("sync_slop_s", 0.02)
    check_value("sync_slop_s", 1)  # an int for a double is fine here (ROS itself rejects it; see below)
    for name, bad in [("sync_slop_s", 0.0), ("sync_slop_s", -1.0), ("qos_reliability", "fast"), ("qos_depth", 0),
                      ("min_score", 1.5), ("device", "gpu"), ("backend", "tflite"), ("precision", "int8"), ("descriptors", "rgb"), ("stall_timeout_s", 0.0), ("category", " "),
                      ("category", "mug,teapot"), ("category", "can,can"),
                      ("depth_scale", -0.001), ("publish_markers", "yes"), ("qos_depth", True)]:
        with pytest.raises(ParameterError, match=f"'{name}'"):
            check_value(name, bad)
    assert all(p.description.strip() for p in PARAMETERS)
    assert RUNTIME_MUTABLE == {"min_score", "publish_debug_image", "publish_markers", "publish_canonical",
                               "stall_timeout_s"}


def test_readme_documents_every_parameter_with_its_default():
    text = (SOURCE_PKG / "README.md").read_text()
    for p in PARAMETERS:
        shown = {bool: str(p.default).lower(), str: repr(p.default) if p.default == "" else p.default}.get(
            type(p.default), repr(p.default))
        assert f"| `{p.name}` | `{shown}` |" in text, f"README parameter table: {p.name} (default {shown})"


# ---------------------------------------------------------------------------------------------
# launch file (AST)
# ---------------------------------------------------------------------------------------------
def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def _str_arg(call, i=0):
    a = call.args[i]
    assert isinstance(a, ast.Constant) and isinstance(a.value, str), ast.dump(a)
    return a.value


def _kw(call, key):
    return next((k.value for k in call.keywords if k.arg == key), None)


def test_launch_file_declares_what_it_uses_and_starts_the_node():
    from semcorr_ros import node as node_mod

    tree = ast.parse(LAUNCH_FILE.read_text())
    declared = [_str_arg(c) for c in _calls(tree, "DeclareLaunchArgument")]
    used = {_str_arg(c) for c in _calls(tree, "LaunchConfiguration")}
    assert len(declared) == len(set(declared)), declared
    assert used <= set(declared), f"used but not declared: {used - set(declared)}"
    assert set(declared) <= used, f"declared but unused: {set(declared) - used}"
    assert {"namespace", "color_topic", "depth_topic", "camera_info_topic", "category", "model", "backend",
            "params_file", "rviz"} <= set(declared)
    imports = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imports <= {"launch", "launch.actions", "launch.conditions", "launch.substitutions", "launch_ros.actions",
                       "launch_ros.parameter_descriptions", "launch_ros.substitutions"}, imports
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)

    nodes = {ast.literal_eval(_kw(c, "package")): c for c in _calls(tree, "Node")}
    assert set(nodes) == {"semcorr_ros", "rviz2"}
    perception = nodes["semcorr_ros"]
    assert ast.literal_eval(_kw(perception, "executable")) == "perception_node"
    assert ast.literal_eval(_kw(perception, "name")) == NODE_NAME
    remapped = {ast.literal_eval(t.elts[0]) for t in _kw(perception, "remappings").elts}
    assert remapped == {node_mod.COLOR_TOPIC, node_mod.DEPTH_TOPIC, node_mod.INFO_TOPIC, node_mod.MASK_TOPIC}
    params = _kw(perception, "parameters").elts
    assert isinstance(params[0], ast.Call) and _str_arg(params[0]) == "params_file"  # the file first
    overrides = {ast.literal_eval(k) for k in params[1].keys}
    assert overrides <= {p.name for p in PARAMETERS}, overrides
    assert _kw(nodes["rviz2"], "condition") is not None  # only with rviz:=true

    # share paths the launch file names exist in the package
    joins = [[ast.literal_eval(e) for e in c.args[0].elts[1:]] for c in _calls(tree, "PathJoinSubstitution")]
    assert ["params", "perception.yaml"] in joins and ["rviz", "perception.rviz"] in joins
    assert (SOURCE_PKG / "rviz" / "perception.rviz").is_file()


def test_rviz_config_shows_the_node_outputs():
    cfg = yaml.safe_load((SOURCE_PKG / "rviz" / "perception.rviz").read_text())
    displays = {d["Class"]: d for d in cfg["Visualization Manager"]["Displays"]}
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == f"{NODE}/debug_image"
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == f"{NODE}/markers"
    cloud = displays["rviz_default_plugins/PointCloud2"]
    assert cloud["Topic"]["Value"] == f"{NODE}/correspondence_cloud" and cloud["Channel Name"] == "confidence"


# ---------------------------------------------------------------------------------------------
# package metadata and the colcon install
# ---------------------------------------------------------------------------------------------
def test_package_xml_and_setup_py():
    root = ET.parse(SOURCE_PKG / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "semcorr_ros"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "geometry_msgs", "visualization_msgs", "diagnostic_msgs", "std_msgs",
            "semcorr_msgs"} <= deps
    assert (SOURCE_PKG / "resource" / "semcorr_ros").is_file()
    setup = ast.parse((SOURCE_PKG / "setup.py").read_text())
    [call] = _calls(setup, "setup")
    scripts = ast.literal_eval(_kw(call, "entry_points"))["console_scripts"]
    assert scripts == ["perception_node = semcorr_ros.node:main", "grasp_example = semcorr_ros.grasp_example:main"]
    assert (REPO / "ros2_ws" / "src" / "semcorr_ros").resolve() == SOURCE_PKG.resolve()


def test_colcon_install_is_current(ros_env):
    """make setup (scripts/setup_ros.sh) built this package from the current sources."""
    install = REPO / "ros2_ws" / "install"
    share = install / "share" / "semcorr_ros"
    # (make setup re-runs only when a package.xml changes; setup_ros.sh hashes every source file)
    hint = "the colcon install is missing or stale: run bash scripts/setup_ros.sh .venv"
    for rel, src in [("launch/perception.launch.py", LAUNCH_FILE), ("params/perception.yaml", PARAMS_YAML),
                     ("rviz/perception.rviz", SOURCE_PKG / "rviz" / "perception.rviz"),
                     ("package.xml", SOURCE_PKG / "package.xml")]:
        assert (share / rel).is_file(), f"{share / rel} missing: {hint}"
        assert (share / rel).read_bytes() == src.read_bytes(), f"{share / rel} differs from {src}: {hint}"
    assert (install / "share" / "ament_index" / "resource_index" / "packages" / "semcorr_ros").is_file(), hint
    assert (install / "lib" / "semcorr_ros" / "perception_node").is_file(), hint
    [site] = list((install / "lib").glob("python3*/site-packages"))
    for src in sorted((SOURCE_PKG / "semcorr_ros").glob("*.py")):
        built = site / "semcorr_ros" / src.name
        assert built.is_file() and built.read_bytes() == src.read_bytes(), f"{built}: {hint}"


# ---------------------------------------------------------------------------------------------
# the running node (real DDS)
# ---------------------------------------------------------------------------------------------
def test_running_node_declares_exactly_the_yaml_parameters(ros_in_process, domain_env, tmp_path):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters, SetParameters
    from rclpy.parameter import parameter_value_to_python

    node = start_node(domain_env, tmp_path, params_file=None)  # built-in defaults, no file
    listener = Listener(domain_env)
    try:
        listener.wait_for(lambda: listener.category_info, 60, "the node to come up", node.log)
        names = [n for n in listener.call_service(ListParameters, f"{NODE}/list_parameters",
                                                  ListParameters.Request()).result.names if n not in RCLPY_OWN]
        yaml_params = _yaml_params()
        assert sorted(names) == sorted(yaml_params), "the node declares other parameters than the YAML lists"
        values = listener.call_service(GetParameters, f"{NODE}/get_parameters", GetParameters.Request(names=names))
        live = {n: parameter_value_to_python(v) for n, v in zip(names, values.values)}
        assert live == yaml_params
        desc = listener.call_service(DescribeParameters, f"{NODE}/describe_parameters",
                                     DescribeParameters.Request(names=names)).descriptors
        assert all(d.description.strip() for d in desc)
        assert {d.name for d in desc if not d.read_only} == RUNTIME_MUTABLE

        def set_(name, ptype, **value):
            req = SetParameters.Request(parameters=[Parameter(name=name, value=ParameterValue(type=ptype, **value))])
            return listener.call_service(SetParameters, f"{NODE}/set_parameters", req).results[0]

        assert set_("min_score", ParameterType.PARAMETER_DOUBLE, double_value=0.3).successful
        bad = set_("min_score", ParameterType.PARAMETER_DOUBLE, double_value=2.0)
        assert not bad.successful and "min_score" in bad.reason
        assert not set_("category", ParameterType.PARAMETER_STRING, string_value="bowl").successful  # read-only
        rc, took = node.signal_and_wait(signal.SIGTERM, 15)
        assert rc == 0, node.log()[-3000:]
    finally:
        listener.close()
        node.stop()


@pytest.mark.parametrize("args,named", [
    (("-p", "sync_slop_s:=-1.0"), "'sync_slop_s'"),
    (("-p", "sync_slop_s:=1"), "'sync_slop_s': must be of type double"),
    (("-p", "category:=teapot"), "'category': unknown category 'teapot'"),
    (("-p", "category:=mug,bottle,mug"), "'category': each category may be listed once; repeated: mug"),
    (("-p", "category:=mug,can", "-p", "model_bundle:=/a/mug.pt"), "'model_bundle': 1 bundle path(s) for 2 categories"),
    (("-p", "model_bundle:=/nonexistent/mug.pt"), "'model_bundle'"),
    (("-p", "backend:=tensorrt"), "'backend': the tensorrt backend needs TensorRT"),
    (("-p", "backend:=onnxruntime", "-p", "precision:=fp16"), "'backend': onnxruntime runs the fp32 graph"),
    (("-p", "descriptors:=2d", "-p", "dense2d_model:=/nonexistent/mug2d.pt"), "'dense2d_model'"),
    (("--params", "/nonexistent/params.yaml"), "parameter file not found"),
])
def test_bad_parameter_exits_2_naming_it(domain_env, args, named):
    proc = run_node_to_exit(domain_env, *args)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert named in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
