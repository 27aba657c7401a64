"""The checks every semcorr model file shares (models/model_file.py)."""

from __future__ import annotations

import pytest
import torch

from semcorr_core.errors import ModelFileError
from semcorr_core.models.model_file import read_model_file

KW = dict(what="widget model", file_format="semcorr-widget", version=3, remedy="train one with `semcorr train widget`")


def test_a_fitting_file_is_read_back(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"format": "semcorr-widget", "version": 3, "category": "mug", "x": torch.ones(2)}, path)
    d = read_model_file(path, category="mug", **KW)
    assert d["category"] == "mug" and torch.equal(d["x"], torch.ones(2))
    assert read_model_file(str(path), **KW)["version"] == 3  # no category asked: any


@pytest.mark.parametrize("payload,match", [
    ({"format": "other", "version": 3}, r"not a semcorr widget model \(format 'other'\): train one"),
    ([1, 2], r"not a semcorr widget model \(format 'list'\)"),
    ({"format": "semcorr-widget", "version": 2}, r"widget model format version 2; .* reads version 3: train one"),
    ({"format": "semcorr-widget", "version": 3, "category": "can"}, r"for category 'can', not 'mug'"),
])
def test_a_file_that_does_not_fit_is_refused_with_what_to_do(tmp_path, payload, match):
    path = tmp_path / "w.pt"
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match=match):
        read_model_file(path, category="mug", **KW)


def test_a_missing_or_damaged_file_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="widget model not found"):
        read_model_file(tmp_path / "none.pt", **KW)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="not a readable widget model"):
        read_model_file(bad, **KW)
