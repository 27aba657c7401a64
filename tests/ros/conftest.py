"""Fixtures for the ROS 2 tests: the environment of scripts/ros_env.sh, fresh DDS domains.

These tests need ROS 2 installed in the venv and ros2_ws built (`make setup`, i.e.
`bash scripts/setup_ros.sh .venv`). They fail, never skip, when that is missing.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROS_ENV_SH = REPO / "scripts" / "ros_env.sh"
SETUP_HINT = "run make setup (or: bash scripts/setup_ros.sh .venv)"


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Environment produced by sourcing scripts/ros_env.sh (from another cwd), for subprocesses."""
    if not ROS_ENV_SH.is_file():
        pytest.fail(f"{ROS_ENV_SH} is missing")
    proc = subprocess.run(
        ["bash", "-c", 'source "$0" >/dev/null && env -0', str(ROS_ENV_SH)],
        cwd="/",
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0:
        pytest.fail(
            "sourcing scripts/ros_env.sh failed, ROS 2 or ros2_ws is not set up: "
            f"{SETUP_HINT}\n{proc.stderr.decode(errors='replace').strip()}",
            pytrace=False,
        )
    env = {}
    for item in proc.stdout.split(b"\0"):
        key, sep, value = item.decode(errors="surrogateescape").partition("=")
        if sep:
            env[key] = value
    return env


@pytest.fixture(scope="session")
def ros_in_process(ros_env):
    """rclpy and semcorr_msgs importable in this pytest process."""
    try:
        import rclpy  # noqa: F401
        import rclpy.serialization  # noqa: F401
        import semcorr_msgs.msg  # noqa: F401
    except ImportError as exc:
        pytest.fail(
            f"cannot import ROS 2 / semcorr_msgs in this pytest process ({exc}). Run the tests as "
            "`source scripts/ros_env.sh && .venv/bin/python -m pytest tests` (what make test "
            f"does); if that fails too, {SETUP_HINT}",
            pytrace=False,
        )
    return sys.modules["semcorr_msgs.msg"]


_domain_counter = itertools.count()


@pytest.fixture
def domain_env(ros_env, tmp_path) -> dict[str, str]:
    """ros_env with a ROS_DOMAIN_ID of its own (per test and per pytest process), loopback only."""
    # Valid Fast DDS domains on Linux are 0..232; keep 1..100 and spread by pid so that
    # concurrent pytest runs on one host rarely share a domain (topic names are unique anyway).
    domain = 1 + (os.getpid() * 7 + next(_domain_counter)) % 100
    env = dict(ros_env)
    env.update(
        ROS_DOMAIN_ID=str(domain),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        ROS_LOG_DIR=str(tmp_path / "ros_log"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("ROS_STATIC_PEERS", None)
    return env
