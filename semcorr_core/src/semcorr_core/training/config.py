"""Layered YAML run configs with command-line overrides (issue #3).

One resolved config is a plain nested ``dict`` of YAML scalars, lists and mappings, built in
three layers, later layers winning:

1. **Base files.** A YAML file may name other files it builds on with ``_base_: other.yaml``
   (or a list of them), paths relative to the file that names them. Bases are loaded first,
   in list order, then the file itself is merged on top. Cycles are an error.
2. **Files.** The files passed to :func:`load_config` are merged in order, each one (with its
   bases resolved) on top of the previous ones.
3. **Overrides.** ``key.sub=value`` strings (``semcorr train ... train.lr=1e-4``) are applied
   last and always win. Values are parsed as YAML (``yaml.safe_load`` rules, plus ``1e-4`` read as a
   float in files and overrides alike): ``3`` is an int, ``1e-4`` / ``0.5`` a float, ``true`` a bool, ``[1, 2]`` a list, ``null`` ``None``, an empty value ``""``;
   anything else stays a string. To protect against typos, an override may only *change* a key that already exists in
   the merged files; a new key needs a leading ``+`` (``+model.dropout=0.1``).

Merging is a deep merge of mappings: a mapping in a later layer updates the earlier mapping key
by key, while any other value (scalar, list) replaces the earlier value outright.

:func:`config_hash` gives a short, stable fingerprint of a resolved config (recorded in
checkpoints to spot a resumed run whose config changed); :func:`dump_config` writes the
resolved config next to a run's outputs.

Errors are :class:`ConfigError` (an :class:`~semcorr_core.errors.InputError`) naming the file or
key at fault and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import yaml

from semcorr_core.atomic_file import atomic_path
from semcorr_core.errors import InputError

__all__ = [
    "ConfigError",
    "BASE_KEY",
    "load_config",
    "load_yaml_file",
    "merge_configs",
    "apply_overrides",
    "parse_override",
    "get_by_path",
    "config_hash",
    "canonical_json",
    "dump_config",
]

PathLike = Union[str, "os.PathLike[str]"]

#: key through which a YAML file names the file(s) it builds on
BASE_KEY = "_base_"


class ConfigError(InputError):
    """A run config (YAML file, override or value) is malformed; the message names the key."""


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-4`` / ``5E+3`` as floats.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-4``): ``lr: 1e-4`` would silently
    become the *string* ``"1e-4"``. Config files and overrides use this loader instead.
    """


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _yaml_load(text: Any) -> Any:
    return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist (or is not a file)")
    try:
        with path.open("r", encoding="utf-8") as fh:
            data = _yaml_load(fh)
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    except OSError as err:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping at the top level, got {type(data).__name__}"
        )
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"config file {str(path)!r}: top-level key {key!r} must be a string")
    return data


def load_yaml_file(path: PathLike, *, _stack: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Load one YAML config file with its ``_base_`` chain resolved (bases first, file on top).

    Args:
        path: the YAML file.

    Returns:
        The merged mapping, without the ``_base_`` key.

    Raises:
        ConfigError: missing/unreadable/invalid file, non-mapping top level, a bad ``_base_``
            value, or a ``_base_`` cycle.
    """
    p = Path(path).expanduser().resolve()
    if p in _stack:
        chain = " -> ".join(str(s) for s in (*_stack, p))
        raise ConfigError(f"config {BASE_KEY} cycle: {chain}")
    data = _read_yaml_mapping(p)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        base_list: list[str] = []
    elif isinstance(bases, str):
        base_list = [bases]
    elif isinstance(bases, list) and all(isinstance(b, str) for b in bases):
        base_list = list(bases)
    else:
        raise ConfigError(
            f"config file {str(p)!r}: {BASE_KEY} must be a relative path string or a list of them, got {bases!r}"
        )
    merged: dict[str, Any] = {}
    for base in base_list:
        base_path = Path(base).expanduser()
        if not base_path.is_absolute():
            base_path = p.parent / base_path
        merged = merge_configs(merged, load_yaml_file(base_path, _stack=(*_stack, p)))
    return merge_configs(merged, data)


def merge_configs(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, every other value in ``update`` replaces ``base``'s.

    Neither argument is modified; the result shares no mutable state with them.
    """
    out: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_configs(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --------------------------------------------------------------------------------------------
# overrides
# --------------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any, bool]:
    """Split one ``[+]key.sub=value`` override into (key path, parsed value, adds-new-key).

    Raises:
        ConfigError: no ``=``, an empty key or key segment, or a value that is not valid YAML.
    """
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(
            f"config override {text!r} must look like key.sub=value (or +key.sub=value to add a new key)"
        )
    raw_key, raw_value = text.split("=", 1)
    raw_key = raw_key.strip()
    add = raw_key.startswith("+")
    if add:
        raw_key = raw_key[1:]
    parts = raw_key.split(".")
    if not raw_key or any(not part.strip() for part in parts):
        raise ConfigError(f"config override {text!r}: key {raw_key!r} has an empty segment; use key.sub=value")
    parts = [part.strip() for part in parts]
    try:
        value = _yaml_load(raw_value) if raw_value.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"config override {text!r}: value {raw_value!r} is not valid YAML ({err})") from err
    return parts, value, add


def _unknown_key_message(path: list[str], depth: int, node: Mapping[str, Any]) -> str:
    dotted = ".".join(path)
    where = ".".join(path[:depth]) or "<top level>"
    known = sorted(str(k) for k in node)
    close = difflib.get_close_matches(path[depth], known, n=3)
    hint = f" Did you mean {', '.join(repr('.'.join([*path[:depth], c])) for c in close)}?" if close else ""
    return (
        f"config override key {dotted!r} does not exist: {where} has no key {path[depth]!r} "
        f"(known keys there: {', '.join(known) or 'none'}).{hint} "
        f"To add a new key on purpose, write +{dotted}=..."
    )


def apply_overrides(cfg: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` / ``+key.sub=value`` overrides to a copy of ``cfg`` (see module doc).

    Raises:
        ConfigError: malformed override, a key that does not exist without ``+``, a ``+`` key
            that already exists (use the plain form to change it), or a path that runs through
            a non-mapping value.
    """
    out = copy.deepcopy(dict(cfg))
    for text in overrides:
        path, value, add = parse_override(text)
        node: dict[str, Any] = out
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None and part not in node:
                if not add:
                    raise ConfigError(_unknown_key_message(path, depth, node))
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(
                    f"config override {text!r}: {'.'.join(path[: depth + 1])!r} is a "
                    f"{type(child).__name__}, not a mapping, so it has no key {path[depth + 1]!r}"
                )
            node = child
        leaf = path[-1]
        if add and leaf in node:
            raise ConfigError(
                f"config override {text!r}: key {'.'.join(path)!r} already exists; drop the leading '+' to change it"
            )
        if not add and leaf not in node:
            raise ConfigError(_unknown_key_message(path, len(path) - 1, node))
        node[leaf] = value
    return out


def load_config(paths: Sequence[PathLike], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Resolve a run config: YAML files (with ``_base_`` chains) merged in order, then overrides.

    Args:
        paths: YAML files, later ones winning (may be empty: overrides then need ``+``).
        overrides: ``key.sub=value`` strings applied last; they always beat file values.

    Returns:
        The resolved config, a plain nested dict.

    Raises:
        ConfigError: see :func:`load_yaml_file` and :func:`apply_overrides`.

    Example:
        >>> load_config([], ["+train.lr=1e-3", "+train.epochs=2"])
        {'train': {'lr': 0.001, 'epochs': 2}}
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if isinstance(overrides, str):
        overrides = [overrides]
    merged: dict[str, Any] = {}
    for path in paths:
        merged = merge_configs(merged, load_yaml_file(path))
    return apply_overrides(merged, overrides)


def get_by_path(cfg: Mapping[str, Any], dotted: str, default: Any = ...) -> Any:
    """``cfg["a"]["b"]`` for ``"a.b"``; ``default`` if given and a key is missing.

    Raises:
        ConfigError: a missing key without ``default`` (the message names the key).
    """
    node: Any = cfg
    for depth, part in enumerate(dotted.split(".")):
        if not isinstance(node, Mapping) or part not in node:
            if default is not ...:
                return default
            where = ".".join(dotted.split(".")[:depth]) or "<top level>"
            raise ConfigError(f"config key {dotted!r} is missing ({where} has no key {part!r})")
        node = node[part]
    return node


# --------------------------------------------------------------------------------------------
# fingerprint and dump
# --------------------------------------------------------------------------------------------


def _canonical(value: Any, where: str, json_safe: bool = True) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"config key {key!r} under {where or '<top level>'} must be a string")
            out[key] = _canonical(item, f"{where}.{key}" if where else key, json_safe)
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(item, f"{where}[{i}]", json_safe) for i, item in enumerate(value)]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if json_safe and not math.isfinite(value):
            return repr(value)  # JSON has no inf/nan; keep them distinguishable and stable
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise ConfigError(
        f"config value at {where or '<top level>'} has type {type(value).__name__}; "
        "allowed: mapping, list, str, int, float, bool, null"
    )


def _drop(cfg: dict[str, Any], dotted: str) -> None:
    parts = dotted.split(".")
    node: Any = cfg
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def canonical_json(cfg: Mapping[str, Any], *, exclude: Iterable[str] = ()) -> str:
    """Canonical JSON of a config: sorted keys, no whitespace, tuples as lists, paths as strings.

    Args:
        exclude: dotted keys left out (e.g. run-time-only settings such as ``train.resume``).
    """
    data = _canonical(cfg, "")
    for dotted in exclude:
        _drop(data, dotted)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def config_hash(cfg: Mapping[str, Any], *, exclude: Iterable[str] = ()) -> str:
    """First 12 hex digits of the sha256 of :func:`canonical_json` (stable across runs, key order
    and Python versions; changes whenever any included value changes)."""
    return hashlib.sha256(canonical_json(cfg, exclude=exclude).encode("utf-8")).hexdigest()[:12]


def dump_config(cfg: Mapping[str, Any], path: PathLike) -> Path:
    """Write a resolved config as YAML (keys in their given order); parent folders are created.

    The file loads back with :func:`load_config` to the same config (same :func:`config_hash`).
    Written atomically (temporary file + rename), so a reader never sees half a file.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(_canonical(cfg, "", json_safe=False), sort_keys=False, default_flow_style=False, allow_unicode=True)
    with atomic_path(p) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return p
