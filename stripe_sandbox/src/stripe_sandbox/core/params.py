"""Decoding Stripe's form-encoded nested parameters and reading typed values from them.

``a[b][c]=v`` becomes ``{"a": {"b": {"c": "v"}}}``. As on Stripe, an indexed key
``x[0][y]=v`` is a hash key until the param is read as an array (``get_list`` orders
the indexes), so a hash such as ``metadata[42]=v`` keeps its digit keys. Bracket keys
``x[]=v`` append to a list, and ``x[][a]=1&x[][b]=2&x[][a]=3`` makes a list of hashes
(a new hash starts when its key repeats), as some clients send. Every leaf value stays
a string, as sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .errors import invalid, missing_param

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def _split_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not rest:
        return [head]
    return [head, *_KEY_PART.findall("[" + rest)]


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build nested params from decoded ``(key, value)`` pairs."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "":
                if not isinstance(node, list):
                    break
                if last:
                    node.append(value)
                    break
                # ``x[][k]``: the list's last hash, or a new one when it already has ``k``.
                inner = parts[index + 1]
                if not node or not isinstance(node[-1], dict) or inner in node[-1]:
                    node.append({})
                node = node[-1]
                continue
            if isinstance(node, list):
                break
            following = parts[index + 1] if not last else None
            if last:
                node[part] = value
            elif following == "":
                existing = node.get(part)
                node[part] = existing if isinstance(existing, list) else []
                node = node[part]
            else:
                existing = node.get(part)
                if not isinstance(existing, dict):
                    existing = {}
                    node[part] = existing
                node = existing
    return root


def get_str(params: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """A string param (400 if required and absent, or not a scalar)."""
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise missing_param(key)
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {key}", param=key)
    return value


def get_int(
    params: dict[str, Any], key: str, *, required: bool = False, param: str | None = None
) -> int | None:
    """An integer param (400 "Invalid integer" otherwise)."""
    raw = get_str(params, key, required=required)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid(
            f"Invalid integer: {raw}", param=param or key, code="parameter_invalid_integer"
        ) from None


def get_bool(params: dict[str, Any], key: str) -> bool | None:
    """A boolean param sent as ``true``/``false``."""
    raw = get_str(params, key)
    if raw is None:
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise invalid(f"Invalid boolean: {raw}", param=key)


def get_list(params: dict[str, Any], key: str) -> list[Any]:
    """An array param (``x[0]=…`` in index order, or ``x[]=…``); a lone scalar becomes
    a one-item list; a hash with other than integer keys is Stripe's "Invalid array"."""
    value = params.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if not all(k.isdigit() for k in value):
            raise invalid("Invalid array", param=key)
        return [value[k] for k in sorted(value, key=int)]
    return [value]


def get_dict(params: dict[str, Any], key: str) -> dict[str, Any]:
    """A hash param such as ``metadata``; an empty string clears it."""
    value = params.get(key)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {key}", param=key)
    return value


def merge_metadata(current: dict[str, Any], update: Any) -> dict[str, Any]:
    """Apply a metadata update: keys set to "" are removed, "" clears everything."""
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid("Invalid object", param="metadata")
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
