"""Contract tests of the per-point embedding models (semcorr_core.models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.models import (
    DGCNNEmbedding,
    PointNetEmbedding,
    available_embedding_models,
    build_embedding_model,
    check_onnx,
    export_onnx,
    knn_indices,
)

NAMES = ["pointnet", "dgcnn"]


def _cloud(b: int, n: int, c: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, n, c, generator=g) - 0.5


def _model(name: str, seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_embedding_model(name, **kwargs)


# ----------------------------------------------------------------------------- registry


def test_registry_names_and_classes():
    assert available_embedding_models() == ["dgcnn", "pointnet"]
    assert isinstance(build_embedding_model("pointnet"), PointNetEmbedding)
    assert isinstance(build_embedding_model(" DGCNN "), DGCNNEmbedding)


def test_registry_unknown_name_lists_known():
    with pytest.raises(InputError, match="known models: dgcnn, pointnet"):
        build_embedding_model("pointconv")


def test_registry_unknown_argument():
    with pytest.raises(InputError, match="does not take argument.*valid arguments"):
        build_embedding_model("pointnet", k=20)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("pointnet", {"in_features": 2}),
        ("pointnet", {"out_dim": 0}),
        ("pointnet", {"norm": "layer"}),
        ("pointnet", {"local_channels": ()}),
        ("pointnet", {"fourier_bands": -1}),
        ("dgcnn", {"k": 0}),
        ("dgcnn", {"edge_channels": (64, -1)}),
    ],
)
def test_bad_constructor_arguments(name, kwargs):
    with pytest.raises(InputError):
        build_embedding_model(name, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_small_enough_for_cpu(name):
    n_params = sum(p.numel() for p in build_embedding_model(name).parameters())
    assert 50_000 < n_params < 1_000_000


# ----------------------------------------------------------------------------- shape contract


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("b, n", [(1, 64), (3, 500), (2, 1024)])
def test_output_shape_and_unit_norm(name, b, n):
    model = _model(name).eval()
    with torch.no_grad():
        out = model(_cloud(b, n))
    assert out.shape == (b, n, 128)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(b, n), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_out_dim_and_no_normalization(name):
    model = _model(name, out_dim=32, normalize=False).eval()
    with torch.no_grad():
        out = model(_cloud(2, 80))
    assert out.shape == (2, 80, 32)
    assert not torch.allclose(out.norm(dim=-1), torch.ones(2, 80), atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("in_features", [6, 9])
def test_extra_input_features(name, in_features):
    model = _model(name, in_features=in_features).eval()
    x = _cloud(2, 64, in_features)
    with torch.no_grad():
        out = model(x)
        # the extra channels are used: changing only them changes the embeddings
        x2 = x.clone()
        x2[..., 3:] = torch.rand_like(x2[..., 3:])
        out2 = model(x2)
    assert out.shape == (2, 64, 128)
    assert (out - out2).abs().max() > 1e-4


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("norm", ["group", "none"])
def test_other_norms(name, norm):
    model = _model(name, norm=norm)
    out = model(_cloud(1, 64))
    assert out.shape == (1, 64, 128)


@pytest.mark.parametrize("name", NAMES)
def test_float64_model_casts_input(name):
    model = _model(name).double().eval()
    with torch.no_grad():
        out = model(_cloud(1, 64))
    assert out.dtype == torch.float64


# ----------------------------------------------------------------------------- determinism, equivariance


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_given_seed(name):
    a, b = _model(name, seed=7).eval(), _model(name, seed=7).eval()
    x = _cloud(2, 128)
    with torch.no_grad():
        ya, yb, ya2 = a(x), b(x), a(x)
    assert torch.equal(ya, yb) and torch.equal(ya, ya2)
    c = _model(name, seed=8).eval()
    with torch.no_grad():
        assert not torch.allclose(c(x), ya)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("train_mode", [False, True])
def test_permutation_equivariance(name, train_mode):
    model = _model(name).train(train_mode)
    x = _cloud(2, 300, seed=3)
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x)
        y_perm = model(x[:, perm])
    torch.testing.assert_close(y_perm, y[:, perm], atol=1e-5, rtol=0)


def test_knn_indices_match_brute_force():
    x = _cloud(2, 50, 8, seed=5).transpose(1, 2)  # (B, C, N)
    idx = knn_indices(x, 6)
    ref = torch.cdist(x.transpose(1, 2), x.transpose(1, 2)).topk(6, largest=False).indices
    assert idx.shape == (2, 50, 6)
    assert torch.equal(idx[..., 0], torch.arange(50).expand(2, 50))  # itself first
    assert torch.equal(idx.sort(-1).values, ref.sort(-1).values)


@pytest.mark.parametrize("knn_on_xyz", [True, False])
def test_dgcnn_first_graph_space(knn_on_xyz):
    model = _model("dgcnn", in_features=6, k=8, knn_on_xyz=knn_on_xyz).eval()
    x = _cloud(1, 64, 6)
    x[..., 3:] *= 10.0  # extra channels dominate a feature-space graph
    graphs = []
    model.edge_convs[0].register_forward_pre_hook(lambda mod, args: graphs.append(args[1]))
    with torch.no_grad():
        model(x)
    xyz_graph = knn_indices(x[..., :3].transpose(1, 2), 8)
    assert torch.equal(graphs[0], xyz_graph) == knn_on_xyz


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_input_error(name):
    model = _model(name).eval()
    good = _cloud(1, 64)
    with pytest.raises(InputError, match=r"unsqueeze\(0\)"):
        model(good[0])  # (N, C): missing batch axis
    with pytest.raises(InputError, match="shape"):
        model(good[None])  # rank 4
    with pytest.raises(InputError, match="channels"):
        model(_cloud(1, 64, 4))
    with pytest.raises(InputError, match="floating"):
        model((good * 100).long())
    with pytest.raises(InputError, match="torch.Tensor"):
        model(good.numpy())
    with pytest.raises(InputError, match="at least"):
        model(torch.zeros(1, 0, 3))
    for bad_value in (float("nan"), float("inf")):
        bad = good.clone()
        bad[0, 5, 1] = bad_value
        with pytest.raises(InputError, match="NaN or inf"):
            model(bad)


def test_dgcnn_too_few_points():
    model = _model("dgcnn", k=20).eval()
    with pytest.raises(InputError, match="N=19.*k=20"):
        model(_cloud(1, 19))
    assert _model("dgcnn", k=4).eval()(_cloud(1, 19)).shape == (1, 19, 128)


def test_pointnet_single_point_train_mode():
    model = _model("pointnet")
    with pytest.raises(InputError, match="single point"):
        model(_cloud(1, 1))
    assert model.eval()(_cloud(1, 1)).shape == (1, 1, 128)


# ----------------------------------------------------------------------------- training signal


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_every_parameter(name):
    model = _model(name).train()
    x = _cloud(2, 64)
    target = torch.randn(2, 64, 128, generator=torch.Generator().manual_seed(2))
    loss = (model(x) * target).sum()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", NAMES)
def test_tiny_overfit(name):
    """Adam pulls two far-apart points together and pushes two neighbours apart."""
    model = _model(name).train()
    x = _cloud(1, 128, seed=4)
    pts = x[0]
    a, b = 0, int((pts - pts[0]).norm(dim=-1).argmax())  # far apart: make similar
    c = 1
    d = int((pts - pts[c]).norm(dim=-1).topk(2, largest=False).indices[1])  # nearest neighbour: make dissimilar
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_fn() -> torch.Tensor:
        e = model(x)[0]
        return (1.0 - (e[a] * e[b]).sum()) + (1.0 + (e[c] * e[d]).sum())

    with torch.no_grad():
        initial = float(loss_fn())
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(loss_fn())
    print(f"{name}: overfit loss {initial:.3f} -> {final:.3f}")
    assert final < initial - 0.5 and final < 0.5, (initial, final)


def test_pointnet_fourier_encoding_channels_and_gradient():
    model = _model("pointnet", fourier_bands=4, in_features=6).train()
    assert model.local_layers[0][0].in_channels == 6 + 6 * 4  # xyz + extra, then sin/cos of xyz per octave
    x = _cloud(2, 64, 6).requires_grad_(True)
    out = model(x)
    assert out.shape == (2, 64, 128)
    out[..., 0].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad[..., :3].abs().sum() > 0
    # the encoding depends on xyz only: the extra channels pass through unencoded
    plain = _model("pointnet", in_features=6)
    assert plain.local_layers[0][0].in_channels == 6


def test_pointnet_fourier_encoding_resolves_fine_detail():
    """Two points 1.5 cm apart on a unit-RMS cloud: the encoded input differs at high octaves
    by more than raw xyz does (what lets the MLP separate them)."""
    model = _model("pointnet", fourier_bands=6).eval()
    a = torch.tensor([[0.0, 0.0, 1.0]])
    b = torch.tensor([[0.15, 0.0, 1.0]])
    phase = lambda p: p[:, :, None] * model._frequencies  # noqa: E731
    enc = lambda p: torch.cat([phase(p).sin().flatten(1), phase(p).cos().flatten(1)], 1)  # noqa: E731
    assert float((enc(a) - enc(b)).norm()) > 5 * float((a - b).norm())


# ----------------------------------------------------------------------------- ONNX


@pytest.mark.parametrize("name, sizes", [("pointnet", (64, 1000)), ("dgcnn", (64, 300))])
def test_onnx_dynamic_export_matches_torch(name, sizes, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    model = _model(name).train()
    result = export_onnx(model, tmp_path / f"{name}.onnx")
    assert model.training  # mode restored
    assert result.exporter == "torchscript" and result.dynamic_batch
    assert result.dynamic_points and result.num_points is None
    for i, n in enumerate(sizes):
        diff = check_onnx(model, result.path, _cloud(i + 1, n, seed=10 + i))
        assert diff < 1e-4, (n, diff)
    meta = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert meta["semcorr.in_features"] == "3" and meta["semcorr.dynamic_points"] == "true"
    assert meta["semcorr.out_dim"] == "128"


def test_onnx_fourier_pointnet_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    model = _model("pointnet", fourier_bands=6).eval()
    result = export_onnx(model, tmp_path / "pn_ff.onnx")
    for i, n in enumerate((64, 700)):
        assert check_onnx(model, result.path, _cloud(i + 1, n, seed=20 + i) * 4) < 1e-4


def test_onnx_fixed_points_and_extra_features(tmp_path):
    pytest.importorskip("onnxruntime")
    model = _model("pointnet", in_features=6, out_dim=16).eval()
    result = export_onnx(model, tmp_path / "sub" / "pn6.onnx", num_points=100, in_features=6)
    assert not result.dynamic_points and result.num_points == 100 and result.out_dim == 16
    assert check_onnx(model, result.path, _cloud(2, 100, 6)) < 1e-4
    with pytest.raises(InputError, match="fixed-N"):
        check_onnx(model, result.path, _cloud(1, 50, 6))


def test_onnx_bad_arguments(tmp_path):
    model = _model("dgcnn", k=8)
    with pytest.raises(InputError, match="in_features"):
        export_onnx(model, tmp_path / "x.onnx", in_features=6)
    with pytest.raises(InputError, match="num_points"):
        export_onnx(model, tmp_path / "x.onnx", num_points=4)
    with pytest.raises(InputError, match="export_onnx first"):
        check_onnx(model, tmp_path / "missing.onnx", np.zeros((1, 16, 3), np.float32))
    (tmp_path / "corrupt.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(InputError, match="corrupt"):
        check_onnx(model, tmp_path / "corrupt.onnx", np.zeros((1, 16, 3), np.float32))
