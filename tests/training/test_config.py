"""Layered YAML configs: _base_ chains, deep merge, overrides, typo protection, hashing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from semcorr_core.errors import InputError
from semcorr_core.training.config import (
    ConfigError,
    apply_overrides,
    config_hash,
    dump_config,
    get_by_path,
    load_config,
    merge_configs,
)


def _write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


@pytest.fixture()
def layered(tmp_path: Path) -> dict[str, Path]:
    base = _write(
        tmp_path / "base" / "default.yaml",
        {
            "model": {"name": "pointnet", "out_dim": 64, "layers": [64, 128]},
            "train": {"epochs": 10, "lr": 1e-3, "batch_size": 8, "device": "auto"},
            "data": {"root": "data/mug", "points": 1024},
        },
    )
    mug = _write(
        tmp_path / "mug.yaml",
        {"_base_": "base/default.yaml", "model": {"out_dim": 32}, "train": {"epochs": 20}},
    )
    gpu = _write(tmp_path / "gpu.yaml", {"train": {"batch_size": 64, "device": "cuda"}, "model": {"layers": [32]}})
    return {"base": base, "mug": mug, "gpu": gpu}


def test_base_is_loaded_first_and_child_wins(layered: dict[str, Path]) -> None:
    cfg = load_config([layered["mug"]])
    assert "_base_" not in cfg
    assert cfg["model"] == {"name": "pointnet", "out_dim": 32, "layers": [64, 128]}  # deep merge
    assert cfg["train"]["epochs"] == 20 and cfg["train"]["lr"] == 1e-3
    assert cfg["data"]["points"] == 1024


def test_files_merge_in_order_later_wins_lists_replace(layered: dict[str, Path]) -> None:
    cfg = load_config([layered["mug"], layered["gpu"]])
    assert cfg["train"]["batch_size"] == 64 and cfg["train"]["device"] == "cuda"
    assert cfg["train"]["epochs"] == 20
    assert cfg["model"]["layers"] == [32]  # a list replaces, never concatenates
    cfg2 = load_config([layered["gpu"], layered["mug"]])
    assert cfg2["model"]["layers"] == [64, 128]  # order matters


def test_base_list_and_nested_chain(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", {"x": 1, "y": {"p": 1}})
    _write(tmp_path / "b.yaml", {"_base_": "a.yaml", "y": {"q": 2}})
    _write(tmp_path / "c.yaml", {"z": 3, "x": 30})
    top = _write(tmp_path / "sub" / "top.yaml", {"_base_": ["../b.yaml", "../c.yaml"], "y": {"p": 10}})
    assert load_config([top]) == {"x": 30, "y": {"p": 10, "q": 2}, "z": 3}


def test_base_cycle_and_missing_base_are_errors(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", {"_base_": "b.yaml"})
    _write(tmp_path / "b.yaml", {"_base_": "a.yaml"})
    with pytest.raises(ConfigError, match="cycle"):
        load_config([tmp_path / "a.yaml"])
    _write(tmp_path / "c.yaml", {"_base_": "nope.yaml"})
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config([tmp_path / "c.yaml"])
    _write(tmp_path / "d.yaml", {"_base_": 3})
    with pytest.raises(ConfigError, match="_base_"):
        load_config([tmp_path / "d.yaml"])


def test_bad_files_raise_input_error_with_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.yaml"):
        load_config([tmp_path / "missing.yaml"])
    bad = _write(tmp_path / "bad.yaml", "train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config([bad])
    lst = _write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config([lst])
    empty = _write(tmp_path / "empty.yaml", "")
    assert load_config([empty]) == {}


def test_override_beats_yaml_and_values_are_yaml_typed(layered: dict[str, Path]) -> None:
    cfg = load_config(
        [layered["mug"], layered["gpu"]],
        [
            "train.epochs=3",
            "train.lr=5e-4",
            "train.device=cpu",
            "model.layers=[8, 16]",
            "data.root=/tmp/x y",
            "model.out_dim=null",
            "train.batch_size= 2 ",
        ],
    )
    assert cfg["train"]["epochs"] == 3 and isinstance(cfg["train"]["epochs"], int)
    assert cfg["train"]["lr"] == 5e-4 and isinstance(cfg["train"]["lr"], float)
    assert cfg["train"]["device"] == "cpu"  # the override beats gpu.yaml, the last file
    assert cfg["model"]["layers"] == [8, 16]
    assert cfg["data"]["root"] == "/tmp/x y"
    assert cfg["model"]["out_dim"] is None
    assert cfg["train"]["batch_size"] == 2
    assert load_config([layered["mug"]], ["data.root=on"])["data"]["root"] is True  # YAML 1.1 semantics
    assert load_config([layered["mug"]], ["data.root='on'"])["data"]["root"] == "on"  # quote to keep a string
    assert load_config([layered["mug"]], ["data.root=a=b"])["data"]["root"] == "a=b"  # split on the first '='


def test_override_replaces_a_whole_mapping(layered: dict[str, Path]) -> None:
    cfg = load_config([layered["mug"]], ["data={root: r}"])
    assert cfg["data"] == {"root": "r"}


def test_typo_in_override_is_an_error_naming_key_and_suggestion(layered: dict[str, Path]) -> None:
    with pytest.raises(ConfigError) as err:
        load_config([layered["mug"]], ["train.epoch=3"])
    msg = str(err.value)
    assert "train.epoch" in msg and "train.epochs" in msg and "+train.epoch" in msg
    with pytest.raises(ConfigError, match="trian"):
        load_config([layered["mug"]], ["trian.lr=1"])
    assert isinstance(err.value, InputError)


def test_plus_prefix_adds_new_keys_and_rejects_existing(layered: dict[str, Path]) -> None:
    cfg = load_config([layered["mug"]], ["+train.grad_clip=1.0", "+loss.push.weight=0.5"])
    assert cfg["train"]["grad_clip"] == 1.0
    assert cfg["loss"] == {"push": {"weight": 0.5}}
    with pytest.raises(ConfigError, match="already exists"):
        load_config([layered["mug"]], ["+train.lr=1"])
    assert load_config([], ["+a.b=1"]) == {"a": {"b": 1}}


@pytest.mark.parametrize("bad", ["train.lr", "=3", "train..lr=3", "train.lr=[1, 2"])
def test_malformed_overrides(layered: dict[str, Path], bad: str) -> None:
    with pytest.raises(ConfigError):
        load_config([layered["mug"]], [bad])


def test_override_through_a_scalar_is_an_error(layered: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="not a mapping"):
        load_config([layered["mug"]], ["train.lr.x=1"])


def test_merge_does_not_mutate_inputs() -> None:
    a = {"x": {"y": [1]}}
    b = {"x": {"z": 2}}
    out = merge_configs(a, b)
    out["x"]["y"].append(2)
    assert a == {"x": {"y": [1]}} and b == {"x": {"z": 2}}
    base = {"x": 1}
    apply_overrides(base, ["x=2"])
    assert base == {"x": 1}


def test_get_by_path(layered: dict[str, Path]) -> None:
    cfg = load_config([layered["mug"]])
    assert get_by_path(cfg, "train.epochs") == 20
    assert get_by_path(cfg, "train.nope", 7) == 7
    with pytest.raises(ConfigError, match="train.nope"):
        get_by_path(cfg, "train.nope")


def test_hash_stable_under_key_order_and_sensitive_to_values() -> None:
    a = {"train": {"lr": 0.001, "epochs": 3}, "model": {"name": "pointnet"}}
    b = {"model": {"name": "pointnet"}, "train": {"epochs": 3, "lr": 0.001}}
    h = config_hash(a)
    assert len(h) == 12 and all(c in "0123456789abcdef" for c in h)
    assert config_hash(b) == h
    assert config_hash(a) == config_hash({"train": {"lr": 1e-3, "epochs": 3}, "model": {"name": "pointnet"}})
    assert config_hash({**a, "train": {"lr": 0.002, "epochs": 3}}) != h
    assert config_hash({**a, "train": {"lr": 0.001, "epochs": 3.0}}) != h  # int vs float is a change
    assert config_hash({**a, "extra": None}) != h
    assert config_hash(a, exclude=["train.lr"]) == config_hash({**a, "train": {"lr": 9, "epochs": 3}}, exclude=["train.lr"])
    # fixed value: the hash must not drift between Python/yaml versions
    assert config_hash({"a": 1}) == "015abd7f5cc5"


def test_hash_rejects_non_config_values() -> None:
    with pytest.raises(ConfigError, match="object"):
        config_hash({"a": object()})


def test_dump_round_trip(layered: dict[str, Path], tmp_path: Path) -> None:
    cfg = load_config([layered["mug"], layered["gpu"]], ["train.lr=2e-4", "+x.inf=.inf"])
    out = dump_config(cfg, tmp_path / "run" / "config.yaml")
    assert out.is_file()
    again = load_config([out])
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_exponent_floats_are_floats_in_files_and_overrides(tmp_path: Path) -> None:
    # PyYAML alone (YAML 1.1) reads 1e-4 as the string "1e-4"; configs must not
    f = _write(tmp_path / "f.yaml", "train:\n  lr: 1e-4\n  wd: 5E+2\n  name: 1e\n")
    cfg = load_config([f], ["+train.eps=-1e-8"])
    assert cfg["train"] == {"lr": 1e-4, "wd": 500.0, "name": "1e", "eps": -1e-8}
