"""Reading a semcorr model file: the checks every kind of model file shares (the embedding bundle,
the 2D descriptor model), each failure a :class:`~semcorr_core.errors.ModelFileError` that names
the file and what to do."""

from __future__ import annotations

from pathlib import Path

import torch

from semcorr_core import __version__
from semcorr_core.errors import ModelFileError

__all__ = ["read_model_file"]


def read_model_file(path: str | Path, *, what: str, file_format: str, version: int, remedy: str,
                    category: str | None = None) -> dict:
    """The payload of the model file ``path``: a dict with ``format == file_format`` and
    ``version == version`` (and ``category == category`` when given). ``what`` names the kind of
    file in the messages ("model bundle"), ``remedy`` says how to make a fitting one ("retrain
    with `semcorr train embed3d`"). Raises :class:`ModelFileError` for a missing, unreadable,
    foreign-format, other-version or other-category file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{what} not found: {path}")
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        raise ModelFileError(f"{path} is not a readable {what} (corrupt or not a semcorr file): {e}") from None
    if not isinstance(d, dict) or d.get("format") != file_format:
        found = d.get("format") if isinstance(d, dict) else type(d).__name__
        raise ModelFileError(f"{path} is not a semcorr {what} (format {found!r}): {remedy}")
    if d.get("version") != version:
        raise ModelFileError(f"{path} is {what} format version {d.get('version')}; this semcorr ({__version__}) "
                             f"reads version {version}: {remedy}, or use the semcorr release that wrote it")
    if category is not None and d.get("category") != category:
        raise ModelFileError(f"{path} is a {what} for category {d.get('category')!r}, not {category!r}: "
                             f"pass the {what} of that category")
    return d
