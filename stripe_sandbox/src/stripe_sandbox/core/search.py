"""Stripe's search query language, the part shops use: ``field:'value'`` clauses
joined by ``AND`` (or ``OR``), with ``metadata['key']:'value'`` and negation ``-``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import invalid

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?(?P<field>[a-z_]+)(?:\[['"](?P<key>[^'"]+)['"]\])?\s*:\s*['"](?P<value>[^'"]*)['"]\s*"""
)


@dataclass(frozen=True)
class Clause:
    """One ``field:'value'`` test."""

    field: str
    key: str | None
    value: str
    negated: bool


@dataclass(frozen=True)
class Query:
    """Clauses and how they combine."""

    clauses: tuple[Clause, ...]
    any_of: bool


def parse_query(query: str) -> Query:
    """Parse a search query; 400 ``param=query`` when it cannot be read."""
    joiner = " OR " if " OR " in query else " AND "
    if " OR " in query and " AND " in query:
        raise invalid("Combining AND and OR in one query is not supported.", param="query")
    clauses = []
    for part in query.split(joiner):
        match = _CLAUSE.fullmatch(part)
        if match is None:
            raise invalid(f"Invalid search query: {query}", param="query")
        clauses.append(Clause(match["field"], match["key"], match["value"], bool(match["neg"])))
    return Query(tuple(clauses), joiner == " OR ")


def _value(obj: dict[str, Any], clause: Clause) -> str | None:
    if clause.field == "metadata":
        value = (obj.get("metadata") or {}).get(clause.key or "")
    else:
        value = obj.get(clause.field)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(obj: dict[str, Any], query: Query) -> bool:
    """Whether ``obj`` satisfies the query."""
    results = [(_value(obj, c) == c.value) != c.negated for c in query.clauses]
    return any(results) if query.any_of else all(results)
