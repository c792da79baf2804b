"""Reading a small, hand-written YAML file that no file can crash or hang.

`products.yaml` is edited by people and read by every page of the shop, so its reader
refuses what a catalogue never needs and what YAML would otherwise accept silently or
slowly: duplicate keys (YAML keeps the last one without a word), anchors and aliases
(the "billion laughs" bomb is a few lines of them), merge keys, more than one document,
files over `MAX_BYTES` and nesting deeper than `MAX_DEPTH`. Bytes that are not UTF-8
and YAML syntax errors are named with their line.

PyYAML's parser (its C one, libyaml, where installed) turns the text into events; the
nodes are built here, one event at a time and without recursion, so each refusal comes
at the event that breaks the rule, before anything is expanded. Values are then made by
PyYAML's safe constructor, exactly as `yaml.safe_load` makes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import Mark, MarkedYAMLError
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

#: The parser: libyaml's C one when PyYAML was built with it, else the pure-Python one.
Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: The largest file read (1 MiB: the shipped catalogue is a few kilobytes).
MAX_BYTES = 1024 * 1024
#: The deepest nesting of lists and mappings (the catalogue itself needs 7).
MAX_DEPTH = 20
MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"


class YamlRefused(ValueError):
    """The file is not YAML this reader accepts; `line` (1-based) is where, if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}" if line else message)


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The file at `path` as text, refusing one over `max_bytes` (never read whole) or
    one that is not UTF-8 (naming the line and byte offset of the first bad byte).

    :raise OSError: when the file cannot be opened or read.
    """
    with path.open("rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise YamlRefused(f"is larger than {_size(max_bytes)}: a catalogue is a few kilobytes")
    return decode(data)


def decode(data: bytes) -> str:
    """UTF-8 `data` as text (a leading byte-order mark dropped), or `YamlRefused` naming
    the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise YamlRefused(
            f"byte 0x{data[error.start]:02x} at offset {error.start} is not UTF-8 "
            "(save the file as UTF-8)",
            line,
        ) from error


def load(text: str, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """The one YAML document in `text` as Python values, as `yaml.safe_load` gives it,
    or `YamlRefused` with the line of the first thing refused."""
    if len(text) > max_bytes:
        raise YamlRefused(f"is larger than {_size(max_bytes)}: a catalogue is a few kilobytes")
    loader = Loader(text)
    composer = _Composer(max_depth)
    try:
        root = _compose(loader, composer)
        return None if root is None else SafeConstructor().construct_document(root)
    except ReaderError as error:
        raise _reader_refusal(error, text) from error
    except MarkedYAMLError as error:
        raise _syntax_refusal(error, composer.last_scalar) from error
    finally:
        loader.dispose()


class _Composer:
    """Nodes built from parser events, checking each rule as the events arrive."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.resolver = Resolver()
        self.constructor = SafeConstructor()
        self.open: list[SequenceNode | MappingNode] = []
        #: Per open mapping: its key waiting for a value, and the line of each key seen.
        self.keys: list[tuple[list[Node | None], dict[Any, int]]] = []
        self.root: Node | None = None
        #: The scalar just read, if the last event was one (to explain a syntax error).
        self.last_scalar: ScalarEvent | None = None

    def event(self, event: Event) -> bool:
        """Take one event; True once the document's root node is complete."""
        self.last_scalar = event if isinstance(event, ScalarEvent) else None
        if isinstance(event, AliasEvent):
            raise YamlRefused(
                f"alias *{event.anchor} refused: anchors and aliases (&name, *name) are not "
                "allowed in the catalogue; write the value out",
                _line(event.start_mark),
            )
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise YamlRefused(
                f"anchor &{event.anchor} refused: anchors and aliases (&name, *name) are not "
                "allowed in the catalogue; write the value out",
                _line(event.start_mark),
            )
        if isinstance(event, ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = self._resolve(ScalarNode, event.value, event.implicit)
            node: Node = ScalarNode(
                tag, event.value, _mark(event.start_mark), _mark(event.end_mark), style=event.style
            )
            return self._attach(node)
        if isinstance(event, SequenceStartEvent | MappingStartEvent):
            if len(self.open) >= self.max_depth:
                raise YamlRefused(
                    f"nested more than {self.max_depth} levels deep (a catalogue needs 7)",
                    _line(event.start_mark),
                )
            kind = SequenceNode if isinstance(event, SequenceStartEvent) else MappingNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = self._resolve(kind, None, event.implicit)
            collection = kind(tag, [], _mark(event.start_mark), None, flow_style=event.flow_style)
            self._attach(collection)
            self.open.append(collection)
            if isinstance(collection, MappingNode):
                self.keys.append(([None], {}))
            return False
        if isinstance(event, CollectionEndEvent):
            closed = self.open.pop()
            closed.end_mark = _mark(event.end_mark)
            if isinstance(closed, MappingNode):
                self.keys.pop()
            return not self.open
        return False

    def _resolve(self, kind: type[Node], value: str | None, implicit: Any) -> str:
        """The tag YAML gives an untagged node (`str`, `int`, `bool`…), as PyYAML does."""
        return cast(str, self.resolver.resolve(kind, value, implicit))  # type: ignore[no-untyped-call]

    def _attach(self, node: Node) -> bool:
        """Put `node` in the open collection (as a key or a value); True if it is the root."""
        if not self.open:
            self.root = node
            return isinstance(node, ScalarNode)
        parent = self.open[-1]
        if isinstance(parent, SequenceNode):
            parent.value.append(node)
            return False
        pending, seen = self.keys[-1]
        key = pending[0]
        if key is None:
            self._check_key(node, seen)
            pending[0] = node
        else:
            parent.value.append((key, node))
            pending[0] = None
        return False

    def _check_key(self, key: Node, seen: dict[Any, int]) -> None:
        line = _line(key.start_mark) or 0
        if key.tag == MERGE_TAG:
            raise YamlRefused("merge keys (<<) are not allowed in the catalogue", line)
        if not isinstance(key, ScalarNode):
            return  # a list or mapping as a key: the constructor refuses it, with its line
        if key.tag == STR_TAG:
            value: Any = key.value  # nearly every key: what the constructor would make
        else:
            value = self.constructor.construct_object(key)
        if value in seen:
            raise YamlRefused(f"`{key.value}` is given twice (first on line {seen[value]})", line)
        seen[value] = line


def _compose(loader: Any, composer: _Composer) -> Node | None:
    """The single document's root node (None for an empty file), built event by event."""
    loader.get_event()  # the stream starts
    if loader.check_event(StreamEndEvent):
        return None
    loader.get_event()  # the document starts
    while not composer.event(loader.get_event()):
        pass
    end = loader.get_event()
    assert isinstance(end, DocumentEndEvent)
    if loader.check_event(DocumentStartEvent):
        raise YamlRefused(
            "a second document (after ---): the catalogue is one document",
            _line(loader.peek_event().start_mark),
        )
    return composer.root


def _line(mark: Any) -> int | None:
    """The 1-based line of a mark (PyYAML's or libyaml's), if there is one."""
    return int(mark.line) + 1 if mark is not None else None


def _mark(mark: Any) -> Mark | None:
    """libyaml's marks stand in for PyYAML's (they have the same fields)."""
    return cast("Mark | None", mark)


def _size(max_bytes: int) -> str:
    return f"{max_bytes // 1024} KiB" if max_bytes < 1024 * 1024 else f"{max_bytes >> 20} MiB"


def _reader_refusal(error: ReaderError, text: str) -> YamlRefused:
    """A character YAML does not allow (a control character, say), with its line."""
    if Loader is yaml.SafeLoader:
        line = text.count("\n", 0, error.position) + 1
    else:  # libyaml counts the position in UTF-8 bytes
        line = text.encode("utf-8").count(b"\n", 0, error.position) + 1
    if isinstance(error.character, int):
        what = f"character #x{error.character:04x}"
    else:
        what = f"byte {error.character!r}"
    return YamlRefused(f"{what} is not allowed in YAML", line)


def _syntax_refusal(error: MarkedYAMLError, last_scalar: ScalarEvent | None) -> YamlRefused:
    """A syntax error at the line that explains it.

    An unclosed quote is reported by the parser where it gives up: the end of the file
    (then the line the quote opened on leads), or the next quote, many lines on, which
    closes it by mistake (then the message names the line the quoted value began on).
    """
    problem = error.problem or "not valid YAML"
    at = _line(error.problem_mark)
    opened = _line(error.context_mark)
    if error.context and "quoted scalar" in error.context and opened is not None:
        return YamlRefused(
            f"YAML syntax error: the quoted value opened here is not closed ({problem} on "
            f"line {at})",
            opened,
        )
    if isinstance(error, ConstructorError):
        return YamlRefused(f"not allowed in the catalogue: {problem}", at)
    message = f"YAML syntax error: {problem}"
    if error.context and opened is not None and opened != at:
        message += f" ({error.context.removeprefix('while ')} that began on line {opened})"
    began = _line(last_scalar.start_mark) if last_scalar is not None else None
    if last_scalar is not None and last_scalar.style in ("'", '"') and began != at:
        message += f"; the quoted value that began on line {began} runs to here: is its closing quote missing?"
    return YamlRefused(message, at)
