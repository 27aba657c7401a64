"""Reading JSON data files with typed errors that name the file and what it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from semcorr_core.errors import DatasetFormatError


def read_json_file(path: str | Path, what: str) -> Any:
    """Parsed content of ``path``; :class:`DatasetFormatError` saying ``what`` the file should be
    when it is missing or not JSON."""
    p = Path(path)
    if not p.is_file():
        raise DatasetFormatError(f"{what} {p} does not exist")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetFormatError(f"{what} {p} cannot be parsed as JSON: {e}") from e
