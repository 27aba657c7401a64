"""The generic training loop on tiny synthetic tasks: learning, determinism, exact resume, outputs."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from semcorr_core.losses import GeodesicConsistencyLoss
from semcorr_core.models import build_embedding_model
from semcorr_core.training import loop as loop_mod
from semcorr_core.training.checkpoint import ConfigMismatchError, ConfigMismatchWarning, latest_checkpoint, list_checkpoints
from semcorr_core.training.config import ConfigError, load_config
from semcorr_core.training.loop import TrainConfig, Trainer, TrainingError, WarmupCosine, fit

# --------------------------------------------------------------------------------------------
# tiny synthetic tasks
# --------------------------------------------------------------------------------------------


class NoisyRegression(Dataset):
    """``y = x @ W + b``; ``__getitem__`` adds fresh input noise from the *global* torch RNG, so
    the loop's seeding (main process and workers) is exercised, not only the model's."""

    def __init__(self, n: int = 48, features: int = 4, seed: int = 123) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, features, generator=g)
        w = torch.randn(features, 2, generator=g)
        self.y = self.x @ w + 0.5

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i] + 0.01 * torch.randn(self.x.shape[1]), self.y[i]


def regression_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 2))


def regression_loss(model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
    x, y = batch
    pred = model(x)
    return nn.functional.mse_loss(pred, y), {"mae": (pred - y).abs().mean()}


def train_cfg(out_dir: Path, **kw: Any) -> dict[str, Any]:
    cfg = dict(
        epochs=4, batch_size=8, lr=2e-2, weight_decay=1e-4, num_workers=0, seed=7, device="cpu",
        out_dir=str(out_dir), log_every=2, checkpoint_every=1, progress=False,
    )
    cfg.update(kw)
    return cfg


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class CrashAt:
    """Wraps a loss function and raises on its ``n``-th call (a simulated kill mid-epoch)."""

    def __init__(self, fn, n: int) -> None:
        self.fn, self.n, self.calls = fn, n, 0

    def __call__(self, model, batch):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt("simulated crash")
        return self.fn(model, batch)


# --------------------------------------------------------------------------------------------
# learning
# --------------------------------------------------------------------------------------------


def test_regression_loss_decreases_and_outputs_are_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    model = regression_model()
    hist = fit(model, regression_loss, NoisyRegression(), train_cfg(out, epochs=6, checkpoint_every=2))
    assert len(hist.losses) == 6 and all(math.isfinite(v) for v in hist.losses)
    assert hist.losses[-1] < 0.3 * hist.losses[0], hist.losses
    assert hist.steps == 6 * 6  # 48 samples / batch 8
    assert [e["epoch"] for e in hist.epochs] == [1, 2, 3, 4, 5, 6]
    assert set(hist.epochs[0]) == {"loss", "mae", "lr", "epoch", "step"}
    assert hist.epochs[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine ends at min_lr_ratio=0

    assert (out / "config.yaml").is_file()
    assert load_config([out / "config.yaml"])["train"]["epochs"] == 6
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == [
        "checkpoint_e0002.pt", "checkpoint_e0004.pt", "checkpoint_e0006.pt"
    ]
    assert hist.final_checkpoint == out / "checkpoints" / "checkpoint_e0006.pt"
    records = read_jsonl(out / "metrics.jsonl")
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["step"] for r in steps] == list(range(2, 37, 2))  # log_every=2
    assert {"loss", "mae", "lr", "epoch", "step", "kind"} <= set(steps[0])
    assert [r["loss"] for r in epochs] == pytest.approx(hist.losses, rel=0, abs=0)


def _keypoint_cloud_dataset(n_shapes: int = 16, n_points: int = 64, seed: int = 0):
    """Noisy, scaled, jittered ellipsoid-ish clouds; keypoints = points nearest 6 canonical spots."""
    canon = torch.tensor(
        [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=torch.float32
    )
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n_shapes):
        pts = torch.nn.functional.normalize(torch.randn(n_points, 3, generator=g), dim=1)
        scale = 1.0 + 0.2 * torch.rand(3, generator=g)
        pts = pts * scale + 0.02 * torch.randn(n_points, 3, generator=g)
        kp = torch.cdist(canon * scale, pts).argmin(dim=1)
        # each shape misses one keypoint now and then (index -1), as real annotations do
        if torch.rand(1, generator=g).item() < 0.3:
            kp[int(torch.randint(0, 6, (1,), generator=g))] = -1
        items.append({"points": pts, "keypoint_index": kp})
    set_distance = torch.cdist(canon, canon) * (math.pi / 2) / math.sqrt(2)  # great-circle-ish margins

    class Clouds(Dataset):
        def __len__(self) -> int:
            return len(items)

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return items[i]

    return Clouds(), set_distance


def test_pointnet_embedding_geodesic_loss_decreases(tmp_path: Path) -> None:
    dataset, set_distance = _keypoint_cloud_dataset()
    torch.manual_seed(0)
    model = build_embedding_model(
        "pointnet", in_features=3, out_dim=8, local_channels=(32, 32), global_dim=64, head_channels=(32,), norm="group"
    )
    criterion = GeodesicConsistencyLoss(set_distance)

    def loss_fn(m: nn.Module, batch: dict[str, torch.Tensor]):
        out = criterion(m(batch["points"]), batch["keypoint_index"])
        return out.loss, {"pull": out.pull, "push": out.push}

    hist = fit(model, loss_fn, dataset, train_cfg(tmp_path, epochs=8, batch_size=4, lr=5e-3, checkpoint_every=0))
    assert hist.losses[-1] < 0.7 * hist.losses[0], hist.losses
    assert {"pull", "push"} <= set(hist.epochs[-1])


# --------------------------------------------------------------------------------------------
# determinism and resume
# --------------------------------------------------------------------------------------------


def test_same_seed_same_history_other_seed_differs(tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        model = regression_model()
        hist = fit(model, regression_loss, NoisyRegression(), train_cfg(tmp_path / name, epochs=3, seed=seed))
        runs.append((hist.losses, params(model)))
    assert runs[0][0] == runs[1][0]  # exact, not approx
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][0] != runs[2][0]


def test_determinism_with_loader_workers(tmp_path: Path) -> None:
    hists = [
        fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path / n, epochs=2, num_workers=2)).losses
        for n in ("w1", "w2")
    ]
    assert hists[0] == hists[1]


@pytest.mark.parametrize("checkpoint_every, crash_call", [(1, 16), (2, 23)], ids=["every-epoch", "every-2nd"])
def test_resume_after_crash_reproduces_uninterrupted_run(tmp_path: Path, checkpoint_every: int, crash_call: int) -> None:
    dataset = NoisyRegression()
    cfg_kw = dict(epochs=5, checkpoint_every=checkpoint_every)

    ref_model = regression_model()
    ref = fit(ref_model, regression_loss, dataset, train_cfg(tmp_path / "ref", **cfg_kw))

    out = tmp_path / "crash"
    with pytest.raises(KeyboardInterrupt):  # 6 steps per epoch: call 16 is in epoch 3, 23 in epoch 4
        fit(regression_model(), CrashAt(regression_loss, crash_call), dataset, train_cfg(out, **cfg_kw))
    survived = latest_checkpoint(out / "checkpoints")
    assert survived is not None and survived.name == ("checkpoint_e0002.pt")

    resumed_model = regression_model(seed=1234)  # any init: the checkpoint overwrites it
    resumed = fit(resumed_model, regression_loss, dataset, train_cfg(out, resume=True, **cfg_kw))
    assert resumed.resumed_from == survived
    assert resumed.losses == ref.losses  # exact: same numbers as without the crash
    assert resumed.epochs == ref.epochs
    assert resumed.steps == ref.steps
    assert all(torch.equal(a, b) for a, b in zip(params(ref_model), params(resumed_model)))

    # metrics.jsonl reads like one uninterrupted run
    assert read_jsonl(out / "metrics.jsonl") == read_jsonl(tmp_path / "ref" / "metrics.jsonl")


def test_resume_without_checkpoint_starts_fresh_and_finished_run_is_a_no_op(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="semcorr_core.training.loop"):
        hist = fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path, epochs=2), resume=True)
    assert hist.resumed_from is None and len(hist.losses) == 2
    assert "starting from scratch" in caplog.text
    again = fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path, epochs=2), resume=True)
    assert again.losses == hist.losses and again.steps == hist.steps
    assert again.final_checkpoint == hist.final_checkpoint


def test_fresh_run_refuses_out_dir_with_checkpoints(tmp_path: Path) -> None:
    first = fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path, epochs=1))
    before = first.final_checkpoint.read_bytes()
    with pytest.raises(ConfigError, match=r"already holds checkpoints.*train.resume=true.*train.out_dir"):
        fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path, epochs=1))
    assert first.final_checkpoint.read_bytes() == before


def test_resume_under_changed_config_warns_or_errors(tmp_path: Path) -> None:
    fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path, epochs=2))
    # run-time keys (resume, log_every, progress, out_dir, device, ...) do not count as a change
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigMismatchWarning)
        fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path, epochs=2, log_every=3, resume=True))
    with pytest.warns(ConfigMismatchWarning, match="train.epochs: 2 -> 3"):
        hist = fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path, epochs=3, resume=True))
    assert len(hist.losses) == 3
    with pytest.raises(ConfigMismatchError, match="train.lr"):
        fit(regression_model(), regression_loss, NoisyRegression(),
            train_cfg(tmp_path, epochs=3, lr=0.5, resume=True, strict_config=True))


# --------------------------------------------------------------------------------------------
# config, errors, logging back-ends
# --------------------------------------------------------------------------------------------


def test_trainer_from_layered_run_config_with_overrides(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("train:\n  epochs: 9\n  batch_size: 8\n  lr: 1e-2\n  device: auto\n  progress: false\n")
    run = tmp_path / "run.yaml"
    run.write_text("_base_: base.yaml\nmodel:\n  hidden: 16\n")
    cfg = load_config([run], ["train.epochs=2", "train.device=cpu", f"+train.out_dir={tmp_path / 'out'}"])
    trainer = Trainer.from_run_config(cfg, model=regression_model(), loss_fn=regression_loss, dataset=NoisyRegression())
    assert trainer.config.epochs == 2 and trainer.config.lr == 1e-2
    hist = trainer.fit()
    assert len(hist.losses) == 2
    assert load_config([tmp_path / "out" / "config.yaml"]) == cfg  # the whole run config is recorded


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"epoch": 3}, r"'epoch' -> did you mean 'epochs'"),
        ({"epochs": 0}, "epochs=0 must be >= 1"),
        ({"epochs": 2.5}, "epochs=2.5 must be an integer"),
        ({"lr": 0}, "lr=0 must be >"),
        ({"lr": "fast"}, "lr='fast' must be a finite number"),
        ({"resume": "yes"}, "resume='yes' must be true or false"),
        ({"device": "tpu"}, "allowed: auto, cpu, cuda, cuda:N"),
        ({"min_lr_ratio": 2}, r"min_lr_ratio=2.0 must lie in \[0, 1\]"),
    ],
)
def test_bad_train_config_names_key_and_allowed_values(bad: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        TrainConfig.from_mapping(bad)
    assert "train" in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_requested_without_cuda_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="torch.cuda.is_available"):
        fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path, device="cuda"))


def test_auto_device_is_cpu_without_cuda(tmp_path: Path) -> None:
    model = regression_model()
    fit(model, regression_loss, NoisyRegression(), train_cfg(tmp_path, epochs=1, device="auto"))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(model.parameters()).device.type == expected


def test_non_finite_loss_and_bad_loss_output_are_training_errors(tmp_path: Path) -> None:
    def nan_loss(model, batch):
        return model(batch[0]).sum() * float("nan"), {}

    with pytest.raises(TrainingError, match=r"epoch 1, step 1: loss is nan"):
        fit(regression_model(), nan_loss, NoisyRegression(), train_cfg(tmp_path / "a"))
    with pytest.raises(TrainingError, match="loss_fn must return"):
        fit(regression_model(), lambda m, b: 1.0, NoisyRegression(), train_cfg(tmp_path / "b"))
    with pytest.raises(TrainingError, match="scalar tensor"):
        fit(regression_model(), lambda m, b: (m(b[0]), {}), NoisyRegression(), train_cfg(tmp_path / "c"))


def test_empty_loader_is_a_config_error(tmp_path: Path) -> None:
    small = NoisyRegression(n=3)
    with pytest.raises(ConfigError, match="batch_size=8"):
        fit(regression_model(), regression_loss, small, train_cfg(tmp_path, drop_last=True))


def test_bare_tensor_loss_progress_bar_and_jsonl_without_tensorboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setattr(loop_mod, "tensorboard_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="semcorr_core.training.loop"):
        hist = fit(
            regression_model(), lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), NoisyRegression(),
            train_cfg(tmp_path, epochs=1, progress=True),
        )
    assert len(hist.losses) == 1
    assert "tensorboard is not installed" in caplog.text
    assert not (tmp_path / "tensorboard").exists()
    assert read_jsonl(tmp_path / "metrics.jsonl")[-1]["kind"] == "epoch"


@pytest.mark.skipif(not loop_mod.tensorboard_available(), reason="tensorboard not installed")
def test_tensorboard_event_files_when_available(tmp_path: Path) -> None:
    fit(regression_model(), regression_loss, NoisyRegression(), train_cfg(tmp_path, epochs=1))
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_warmup_cosine_schedule_shape() -> None:
    s = WarmupCosine(total_steps=10, warmup_steps=2, min_ratio=0.1)
    assert s(0) == pytest.approx(1 / 3) and s(1) == pytest.approx(2 / 3)
    assert s(2) == pytest.approx(1.0)
    assert s(10) == pytest.approx(0.1) and s(100) == pytest.approx(0.1)
    assert all(s(i) >= s(i + 1) for i in range(2, 12))
