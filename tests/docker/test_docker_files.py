"""The Docker files, checked without a Docker engine (none runs on these machines, and no
Dockerfile linter is available from the registries here): what the images COPY exists, the entry
point parses and starts the launch file with arguments the launch file declares, and compose's
services build the Dockerfiles with the environment the entry point reads."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "Dockerfile.gpu"]


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_every_copy_source_exists_and_the_entry_point_is_installed():
    for path in DOCKERFILES:
        ins = _instructions(path)
        assert ins[0][0] == "FROM" and ":" in ins[0][1], f"{path.name}: first instruction FROM with a tag"
        copies = [args.split() for word, args in ins if word == "COPY"]
        assert copies, path.name
        for *sources, _dest in copies:
            for src in sources:
                assert (REPO / src).exists(), f"{path.name}: COPY {src} does not exist in the repository"
        entry = [args for word, args in ins if word == "ENTRYPOINT"]
        assert entry == ['["/usr/local/bin/semcorr-entrypoint"]'], path.name
        assert ["docker/entrypoint.sh", "/usr/local/bin/semcorr-entrypoint"] in copies
        runs = " ".join(args for word, args in ins if word == "RUN")
        assert "colcon build" in runs and "-e semcorr_core" in runs


def test_cpu_image_takes_cpu_torch_and_gpu_image_the_gpu_runtimes():
    cpu = " ".join(a for w, a in _instructions(DOCKERFILES[0]) if w == "RUN")
    gpu = " ".join(a for w, a in _instructions(DOCKERFILES[1]) if w == "RUN")
    torch_pin = next(line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("torch"))
    assert f"download.pytorch.org/whl/cpu {torch_pin}" in cpu
    assert "onnxruntime-gpu" in gpu and "grep -v '^onnxruntime'" in gpu and "tensorrt" in gpu
    assert torch_pin in gpu


def test_entry_point_parses_and_launches_with_declared_arguments():
    script = DOCKER / "entrypoint.sh"
    assert script.stat().st_mode & 0o111, "entrypoint.sh must be executable"
    subprocess.run(["bash", "-n", str(script)], check=True)
    used = set(re.findall(r'"(\w+):=\$\{', script.read_text()))
    tree = ast.parse((REPO / "launch" / "perception.launch.py").read_text())
    declared = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", None) == "DeclareLaunchArgument"}
    assert used and used <= declared, used - declared
    assert "ros2 launch semcorr_ros perception.launch.py" in script.read_text()


def test_compose_builds_both_images_with_the_entry_point_environment():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"perception", "perception-gpu"}
    for name, svc in services.items():
        assert (DOCKER / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file(), name
        assert svc["network_mode"] == "host"
    assert services["perception-gpu"]["profiles"] == ["gpu"]
    assert services["perception-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    read = set(re.findall(r"\$\{(\w+):-", (DOCKER / "entrypoint.sh").read_text())) - {"PYTHONPATH"}
    env = set(services["perception"]["environment"])
    assert read - {"DEVICE"} <= env, read - env  # DEVICE: the image's own default (cpu / cuda)
