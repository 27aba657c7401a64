"""Whole-or-nothing writes (semcorr_core.atomic_file)."""

from __future__ import annotations

import os

import pytest

from semcorr_core.atomic_file import atomic_path


def test_replaces_the_file_in_one_step_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "bundle.pt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.pt"]


def test_an_error_keeps_the_old_file(tmp_path):
    target = tmp_path / "config.yaml"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_fsync_and_a_new_file_with_the_usual_permissions(tmp_path):
    target = tmp_path / "ckpt.pt"
    old = os.umask(0o022)
    try:
        with atomic_path(target, fsync=True) as tmp:
            tmp.write_bytes(b"\x00\x01")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"\x00\x01"
    assert target.stat().st_mode & 0o777 == 0o644  # a bundle must be readable by other users


def test_concurrent_writers_get_their_own_temporary(tmp_path):
    target = tmp_path / "metrics.jsonl"
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b
        a.write_text("a")
        b.write_text("b")
    assert target.read_text() == "a"  # the outer block finished last
