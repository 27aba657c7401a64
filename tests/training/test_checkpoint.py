"""Checkpoints: round trip (incl. RNG states), atomic writes, corrupt files, config-hash mismatch."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import semcorr_core
from semcorr_core.errors import InputError
from semcorr_core.training import checkpoint as ckpt_mod
from semcorr_core.training.checkpoint import (
    CheckpointError,
    ConfigMismatchError,
    ConfigMismatchWarning,
    capture_rng_state,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from semcorr_core.training.config import config_hash


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 2))


def _trained_state(seed: int = 0):
    model = _model(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 3)).pow(2).mean().backward()
        opt.step()
        sched.step()
    return model, opt, sched


CFG = {"train": {"lr": 0.01, "epochs": 10}, "model": {"name": "mlp"}}


def test_round_trip_restores_everything(tmp_path: Path) -> None:
    model, opt, sched = _trained_state()
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    path = save_checkpoint(
        tmp_path / "ck" / "a.pt", model=model, optimizer=opt, scheduler=sched, epoch=2, step=17, config=CFG,
        extra={"history": [{"loss": 1.5}]},
    )
    expected = (random.random(), float(np.random.rand()), torch.rand(3))  # draws right after saving

    model2 = _model(seed=99)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    sched2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    ck = load_checkpoint(path, model=model2, optimizer=opt2, scheduler=sched2, config=CFG)

    for a, b in zip(model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert sched2.state_dict() == sched.state_dict()
    assert (ck.epoch, ck.step) == (2, 17)
    assert ck.config == CFG and ck.config_hash == config_hash(CFG)
    assert ck.semcorr_version == semcorr_core.__version__
    assert ck.extra == {"history": [{"loss": 1.5}]}
    # RNG states: the same numbers come out as right after saving
    assert random.random() == expected[0]
    assert float(np.random.rand()) == expected[1]
    assert torch.equal(torch.rand(3), expected[2])


def test_rng_capture_restore_round_trip_including_numpy_gauss() -> None:
    np.random.seed(5)
    np.random.randn()  # leaves a cached gaussian in the legacy state
    state = capture_rng_state()
    a = (random.random(), np.random.randn(), torch.randn(2))
    restore_rng_state(state)
    b = (random.random(), np.random.randn(), torch.randn(2))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_file_is_weights_only_loadable_and_unwraps_ddp_like_wrappers(tmp_path: Path) -> None:
    model = _model(0)
    path = save_checkpoint(tmp_path / "w.pt", model=nn.DataParallel(model), epoch=1, step=1)
    payload = torch.load(path, weights_only=True)  # no pickled code needed
    assert payload["format"] == "semcorr-checkpoint"
    assert set(payload["model"]) == set(model.state_dict())  # no "module." prefix
    assert payload["config"] is None and payload["optimizer"] is None


def test_atomic_write_keeps_previous_file_on_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(0)
    path = save_checkpoint(tmp_path / "c.pt", model=model, epoch=1, step=10)
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"partial garbage")  # torch.save writes to the temporary path
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(ckpt_mod.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model=_model(1), epoch=2, step=20)
    monkeypatch.undo()
    assert path.read_bytes() == before  # old checkpoint untouched
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind
    assert load_checkpoint(path).epoch == 1


@pytest.mark.parametrize(
    "content",
    [b"", b"not a checkpoint at all", None],
    ids=["empty", "garbage", "truncated"],
)
def test_corrupt_file_raises_input_error_naming_path(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "bad.pt"
    if content is None:
        good = save_checkpoint(tmp_path / "good.pt", model=_model(0))
        content = good.read_bytes()[: len(good.read_bytes()) // 2]
    path.write_bytes(content)
    with pytest.raises(InputError, match="bad.pt") as err:
        load_checkpoint(path, model=_model(0))
    assert isinstance(err.value, CheckpointError)
    assert "corrupt" in str(err.value)


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.pt.*does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="foreign.pt.*not a semcorr"):
        read_checkpoint(tmp_path / "foreign.pt")


def test_model_mismatch_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", model=_model(0))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_checkpoint(path, model=nn.Linear(3, 2))


def test_config_hash_mismatch_warns_with_diff_or_errors_when_strict(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "h.pt", model=_model(0), config=CFG)
    changed = {"train": {"lr": 0.02, "epochs": 10}, "model": {"name": "mlp"}}
    with pytest.warns(ConfigMismatchWarning) as rec:
        load_checkpoint(path, model=_model(1), config=changed)
    msg = str(rec[0].message)
    assert str(path) in msg and config_hash(CFG) in msg and config_hash(changed) in msg
    assert "train.lr: 0.01 -> 0.02" in msg
    with pytest.raises(ConfigMismatchError, match="train.lr"):
        load_checkpoint(path, model=_model(1), config=changed, strict_config=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same config: silent
        load_checkpoint(path, model=_model(1), config={"model": {"name": "mlp"}, "train": {"epochs": 10, "lr": 0.01}})
        # excluded (run-time) keys do not count
        excl = ["train.lr"]
        p2 = save_checkpoint(tmp_path / "h2.pt", model=_model(0), config=CFG, config_hash=config_hash(CFG, exclude=excl))
        load_checkpoint(p2, config=changed, hash_exclude=excl)


def test_latest_checkpoint_orders_by_epoch_and_ignores_temp_files(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path / "absent") is None
    assert latest_checkpoint(tmp_path) is None
    model = _model(0)
    for epoch in (2, 10, 9):
        save_checkpoint(checkpoint_path(tmp_path, epoch), model=model, epoch=epoch)
    (tmp_path / ".checkpoint_e0011.pt.tmp-1-abc").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint_e0002.pt", "checkpoint_e0009.pt", "checkpoint_e0010.pt"]
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 10)


class _Opaque:
    """Any class: unpickling it would run import machinery on load."""


def test_files_with_arbitrary_pickled_objects_are_refused(tmp_path: Path) -> None:
    torch.save({"format": "semcorr-checkpoint", "x": _Opaque()}, tmp_path / "pickle.pt")
    with pytest.raises(CheckpointError, match="pickle.pt.*refuses to unpickle"):
        read_checkpoint(tmp_path / "pickle.pt")
