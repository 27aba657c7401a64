"""2D dense descriptor network, Eq. 5 attention head, and the 2D descriptor file."""

from __future__ import annotations

import math

import pytest
import torch

from semcorr_core.errors import InputError, ModelFileError
from semcorr_core.models.bundle import load_bundle, default_bundle_path
from semcorr_core.models.dense2d import DenseDescriptorNet, canonical_attention
from semcorr_core.models.dense2d_bundle import (Dense2DBundle, load_dense2d_bundle, prototype_fingerprint,
                                                save_dense2d_bundle)


def test_shape_contract_unit_norm_and_gradient():
    torch.manual_seed(0)
    net = DenseDescriptorNet(out_dim=8, width=8)
    x = torch.randn(2, 5, 16, 24, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 8, 16, 24)
    assert torch.allclose(y.norm(dim=1), torch.ones(2, 16, 24), atol=1e-5)
    y[:, 0].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    net.eval()
    with torch.no_grad():  # fully convolutional, GroupNorm: one crop alone gives what it gives in a batch
        assert torch.allclose(net(x[:1]), net(x)[:1], atol=1e-5)


def test_bad_input():
    net = DenseDescriptorNet(out_dim=8, width=8)
    with pytest.raises(InputError, match="expects"):
        net(torch.zeros(1, 3, 16, 16))
    with pytest.raises(InputError, match="divisible by 8"):
        net(torch.zeros(1, 5, 12, 16))
    with pytest.raises(InputError):
        DenseDescriptorNet(out_dim=0)


def test_canonical_attention_by_hand():
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    values = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    q = torch.tensor([[[1.0, 0.0]]])  # sims (1, 0) over tau 0.5: weights e^2 / (e^2 + 1) and 1 / (e^2 + 1)
    xyz, conf = canonical_attention(q, keys, values, 0.5)
    w1 = 1.0 / (math.exp(2.0) + 1.0)
    assert xyz[0, 0].tolist() == pytest.approx([w1, 2 * w1, 3 * w1], rel=1e-5)
    assert float(conf[0, 0]) == pytest.approx(1 - w1, rel=1e-5)
    with pytest.raises(InputError, match="one row per place"):
        canonical_attention(q, keys, values[:1], 0.5)


def _bundle(category="mug", fingerprint=None):
    net = DenseDescriptorNet(out_dim=4, width=8)
    proto = load_bundle(default_bundle_path(category)).prototype
    return Dense2DBundle(category=category, model_kwargs={"out_dim": 4, "width": 8}, state_dict=net.state_dict(),
                         crop_size=16, crop_margin=1.15, class_descriptors=torch.randn(3, 4),
                         class_points=torch.zeros(3, 3), temperature=0.1,
                         dense_descriptors=torch.randn(len(proto.dense_points), 4),
                         keypoint_descriptors=torch.randn(len(proto.keypoints), 4),
                         prototype_fingerprint=fingerprint or prototype_fingerprint(proto))


def test_file_round_trip_and_refusals(tmp_path):
    b = _bundle()
    path = save_dense2d_bundle(tmp_path / "d.pt", b)
    back = load_dense2d_bundle(path, category="mug")
    assert back.prototype_fingerprint == b.prototype_fingerprint and back.crop_size == 16
    x = torch.randn(1, 5, 16, 16)
    reference = DenseDescriptorNet(out_dim=4, width=8)
    reference.load_state_dict(b.state_dict)
    with torch.no_grad():
        assert torch.allclose(back.build_model()(x), reference.eval()(x))
        assert not torch.allclose(back.build_model()(x), DenseDescriptorNet(out_dim=4, width=8).eval()(x))
    with pytest.raises(ModelFileError, match="not 'can'"):
        load_dense2d_bundle(path, category="can")
    with pytest.raises(ModelFileError, match="not found"):
        load_dense2d_bundle(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_dense2d_bundle(tmp_path / "bad.pt")
    torch.save({"format": "other"}, tmp_path / "foreign.pt")
    with pytest.raises(ModelFileError, match="not a semcorr 2D"):
        load_dense2d_bundle(tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="class points"):
        Dense2DBundle(**{**b.__dict__, "class_points": torch.zeros(2, 3)})
    with pytest.raises(InputError, match="keypoint descriptors"):
        Dense2DBundle(**{**b.__dict__, "keypoint_descriptors": torch.zeros(6, 5)})


def test_onnxruntime_runs_the_2d_model_as_torch_does(tmp_path):
    from semcorr_core.models.backends import make_dense2d_backend

    b = _bundle()
    ort_backend = make_dense2d_backend(b, "onnxruntime", "cpu", cache_dir=tmp_path)
    torch_backend = make_dense2d_backend(b, "torch", "cpu", cache_dir=tmp_path)
    assert (ort_backend.name, torch_backend.name) == ("onnxruntime", "torch")
    x = torch.randn(1, 5, 16, 16)
    assert float((ort_backend(x) - torch_backend(x)).abs().max()) < 1e-4
    cached = list(tmp_path.glob("dense2d_mug_*.onnx"))
    assert len(cached) == 1
    cached[0].write_bytes(b"damaged")  # a damaged cached export is made again
    assert float((make_dense2d_backend(b, "onnxruntime", "cpu", cache_dir=tmp_path)(x) - torch_backend(x)).abs().max()) < 1e-4
