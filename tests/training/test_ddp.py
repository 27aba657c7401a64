"""DistributedContext: single-process fallback, env validation, and a real 2-process gloo DDP run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from semcorr_core.training.config import ConfigError
from semcorr_core.training.distributed import DistributedContext, resolve_device

WORKER = Path(__file__).with_name("ddp_worker.py")
EPOCHS = 4
PER_RANK = 24  # 48 samples over 2 ranks


def test_single_process_fallback_is_a_no_op() -> None:
    ctx = DistributedContext.from_env(device="cpu", env={})
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.is_distributed) == (0, 1, True, False)
    assert ctx.backend is None and not ctx.owns_process_group
    t = torch.tensor([1.0, 3.0], requires_grad=True)
    out = ctx.all_reduce_mean(t)
    assert torch.equal(out, t.detach()) and not out.requires_grad and out is not t
    assert ctx.all_reduce_mean(torch.tensor([3])).dtype == torch.float64
    model = nn.Linear(2, 2)
    assert ctx.wrap_model(model) is model  # no DDP wrapper in one process
    assert ctx.make_sampler(list(range(5))) is None
    assert ctx.broadcast_object({"a": 1}) == {"a": 1}
    ctx.barrier()
    with ctx:
        pass  # close() is safe without a process group
    # torchrun --nproc_per_node=1 sets WORLD_SIZE=1: still no process group
    one = DistributedContext.from_env(device="cpu", env={"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"})
    assert not one.is_distributed and not one.owns_process_group


@pytest.mark.parametrize(
    "env, match",
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' must be an integer"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0 must be >= 1"),
        ({"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, "RANK is required"),
        ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, r"RANK=2 must lie in \[0, WORLD_SIZE=2\)"),
        ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_PORT": "1"}, "MASTER_ADDR is required"),
    ],
)
def test_bad_torchrun_environment_is_a_config_error(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DistributedContext.from_env(device="cpu", env=env)


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="allowed: 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        for spec in ("cuda", "cuda:0"):
            with pytest.raises(ConfigError, match="use device=cpu or device=auto"):
                resolve_device(spec)


@pytest.mark.slow
def test_two_process_gloo_ddp_training(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(WORKER), "--out", str(tmp_path), "--epochs", str(EPOCHS),
    ]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as err:  # pragma: no cover - a hang is the failure we guard against
        pytest.fail(f"2-process DDP run did not finish in 120 s; output:\n{err.stdout}\n{err.stderr}")
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"

    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert (r0["rank"], r1["rank"], r0["world_size"]) == (0, 1, 2)

    # identical parameters on both ranks, although each rank built the model with another init
    assert all(torch.equal(a, b) for a, b in zip(r0["params"], r1["params"]))
    # history is averaged over ranks: identical everywhere; and the model learned
    assert r0["losses"] == r1["losses"] and len(r0["losses"]) == EPOCHS
    assert r0["losses"][-1] < 0.6 * r0["losses"][0], r0["losses"]
    assert r0["steps"] == EPOCHS * PER_RANK // 4

    # DistributedSampler: per epoch the two ranks see disjoint halves covering all samples,
    # and the order changes between epochs (set_epoch)
    epochs0 = [r0["seen"][e * PER_RANK:(e + 1) * PER_RANK] for e in range(EPOCHS)]
    epochs1 = [r1["seen"][e * PER_RANK:(e + 1) * PER_RANK] for e in range(EPOCHS)]
    for a, b in zip(epochs0, epochs1):
        assert sorted(a + b) == list(range(2 * PER_RANK))
    assert epochs0[0] != epochs0[1]

    # resuming both ranks from the epoch-2 checkpoint reproduces the run exactly
    assert r0["resumed_from"].endswith("checkpoint_e0002.pt")
    assert r0["resumed_losses"] == r0["losses"] == r1["resumed_losses"]
    assert all(torch.equal(a, b) for a, b in zip(r0["resumed_params"], r0["params"]))
    assert all(torch.equal(a, b) for a, b in zip(r1["resumed_params"], r0["params"]))

    # collectives
    assert torch.allclose(r0["all_reduce_mean"], torch.tensor([0.5, 5.0], dtype=r0["all_reduce_mean"].dtype))
    assert torch.equal(r0["all_reduce_mean"], r1["all_reduce_mean"])
    assert r1["broadcast"] == {"from": 0}
    # only rank 0 wrote files
    assert r0["final_checkpoint"] and r1["final_checkpoint"] is None
    assert (tmp_path / "run" / "metrics.jsonl").is_file()


@pytest.mark.slow
def test_train_embed3d_under_torchrun_two_processes(tmp_path: Path) -> None:
    """The shipped training command itself under torchrun (gloo): the canonical cross-entropy head
    (parameters outside the network's forward) is synchronised too, and rank 0 writes the bundle."""
    from semcorr_core.models.bundle import load_bundle

    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "semcorr_core.cli.main", "train", "embed3d", "--config", str(repo / "training/configs/embed3d/can.yaml"),
        "train.epochs=2", "data.length=8", "data.n_instances=2", "data.n_points=128", "data.mode=complete",
        "train.batch_size=2", "loss.canonical_anchors=16", "model.out_dim=16", "prototype.reference_instances=1",
        "prototype.dense_points=128", f"train.out_dir={out}", "train.progress=false",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    bundle = load_bundle(out / "bundle.pt", category="can")
    assert len(bundle.metadata["train_losses"]) == 2
    ckpt = torch.load(sorted((out / "checkpoints").glob("*.pt"))[-1], weights_only=False)
    state = next(v for v in ckpt.values() if isinstance(v, dict) and "canonical_ce.descriptors" in v)
    assert state["canonical_ce.descriptors"].shape == (16 + 2, 16)  # 16 anchors + the can's 2 keypoints
