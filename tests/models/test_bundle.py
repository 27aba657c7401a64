"""Model bundles: round trip, and clear refusals for wrong files."""

from __future__ import annotations

import pytest
import torch

from semcorr_core.errors import InputError, ModelFileError
from semcorr_core.models import build_embedding_model
from semcorr_core.models.bundle import (
    BUNDLE_VERSION,
    ModelBundle,
    Prototype,
    category_yaml,
    load_bundle,
    save_bundle,
)


def _bundle(category="mug", out_dim=16):
    torch.manual_seed(0)
    kwargs = {"in_features": 3, "out_dim": out_dim}
    model = build_embedding_model("pointnet", **kwargs)
    names = ("rim_center", "bottom_center")
    proto = Prototype(names, torch.rand(2, 3), torch.rand(2, out_dim), torch.rand(50, 3), torch.rand(50, out_dim))
    return model, ModelBundle(category, "pointnet", kwargs, model.state_dict(), category_yaml(category), proto,
                              {"config_hash": "abc123def456"})


def test_round_trip_gives_the_same_network(tmp_path):
    model, b = _bundle()
    path = save_bundle(tmp_path / "mug.pt", b)
    loaded = load_bundle(path, category="mug")
    assert loaded.metadata["config_hash"] == "abc123def456" and "semcorr_version" in loaded.metadata
    assert loaded.category_spec["keypoints"][0] == "rim_center"
    torch.testing.assert_close(loaded.prototype.dense_embeddings, b.prototype.dense_embeddings)
    x = torch.rand(1, 64, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded.build_model()(x), model.eval()(x))
    assert not (tmp_path / "mug.pt.tmp").exists()


def test_refusals(tmp_path):
    _, b = _bundle()
    path = save_bundle(tmp_path / "mug.pt", b)
    with pytest.raises(ModelFileError, match="category 'mug', not 'chair'"):
        load_bundle(path, category="chair")
    with pytest.raises(ModelFileError, match="not found"):
        load_bundle(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(ModelFileError, match="not a readable model bundle"):
        load_bundle(tmp_path / "junk.pt")
    d = torch.load(path, weights_only=True)
    d["version"] = BUNDLE_VERSION + 1
    torch.save(d, tmp_path / "future.pt")
    with pytest.raises(ModelFileError, match=f"version {BUNDLE_VERSION + 1}"):
        load_bundle(tmp_path / "future.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not a semcorr model bundle"):
        load_bundle(tmp_path / "other.pt")


def test_weights_that_do_not_fit_the_model(tmp_path):
    _, b = _bundle()
    b.model_kwargs = {"in_features": 3, "out_dim": 32}
    with pytest.raises(ModelFileError, match="do not fit"):
        load_bundle(save_bundle(tmp_path / "m.pt", b)).build_model()


def test_prototype_shapes_checked():
    with pytest.raises(InputError, match="prototype keypoints"):
        Prototype(("a",), torch.rand(2, 3), torch.rand(1, 4), torch.rand(5, 3), torch.rand(5, 4))
    with pytest.raises(InputError, match="dense prototype"):
        Prototype(("a",), torch.rand(1, 3), torch.rand(1, 4), torch.rand(5, 3), torch.rand(5, 8))
