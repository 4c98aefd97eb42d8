"""A deliberately small YAML subset for the job catalogue.

Why: the catalogue is hand-edited and reaches command lines, so the loader refuses everything that
makes YAML surprising: anchors/aliases (alias bombs, hidden sharing), merge keys, duplicate keys
(the later one silently wins in PyYAML), non-string keys (`1.20:` is a float), custom tags,
very deep nesting, oversized input and non-UTF-8 bytes. Pure: takes bytes, returns plain data.

Scalars must mean what they look like in any YAML reader: YAML 1.1 (PyYAML) and YAML 1.2 (Flink 2.x's
config.yaml) disagree on `010` (8 or 10), `1:30` (90 or a string), `0x10`, `1_000` and `yes/no/on/off`
(booleans or strings), so those spellings are refused and numbers are plain decimal of bounded length.
Strings must not hide anything: no control characters (except tab/newline) and no invisible
formatting or bidirectional-override characters (they make a value display differently from what it is).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from flink_k8s.core.errors import CatalogueLoadError, Problem

MAX_BYTES = 1024 * 1024  # a 500-job catalogue is ~150 KB
MAX_DEPTH = 12
MAX_KEY_LEN = 320  # longest legitimate key: a Kubernetes label key (253-char prefix + '/' + 63-char name)
MAX_NUMBER_LEN = 24  # any number a catalogue needs fits comfortably; Python refuses int() beyond 4300 digits

if TYPE_CHECKING:  # the C loader has the same interface; the stubs type it apart
    _Loader = yaml.SafeLoader
else:
    _Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _fail(rule: str, where: str = "file", value: object = None) -> CatalogueLoadError:
    return CatalogueLoadError([Problem(None, where, value, rule)])


def _mark(node_or_event: yaml.Node | yaml.Event) -> str:
    mark = getattr(node_or_event, "start_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"


class _StrictConstructor(_Loader):
    """Safe constructor that refuses duplicate and non-string mapping keys and surprising scalars.

    It tracks the key path being built, so a refusal names the field (`jobs.stream.image`) and its place.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = []

    def where(self, node: yaml.Node) -> str:
        place = _mark(node)
        return f"{'.'.join(self._path).replace('.[', '[')} ({place})" if self._path else place

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Hashable, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise _fail("expected a mapping", self.where(node))
        mapping: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _fail("YAML merge keys (<<) are not allowed", self.where(key_node), "<<")
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and len(key) > MAX_KEY_LEN:
                raise _fail(f"mapping key longer than {MAX_KEY_LEN} characters", self.where(key_node),
                            key[:60] + "...")
            if not isinstance(key, str):
                raise _fail(
                    "mapping keys must be strings (quote it: YAML reads 1.20 as the number 1.2)",
                    self.where(key_node),
                    key,
                )
            if key in mapping:
                raise _fail("duplicate key (YAML would silently keep only the last one)", self.where(key_node), key)
            self._path.append(key)
            try:
                mapping[key] = self.construct_object(value_node, deep=True)
            finally:
                self._path.pop()
        return mapping

    def construct_sequence(self, node: yaml.Node, deep: bool = False) -> list[Any]:
        if not isinstance(node, yaml.SequenceNode):
            raise _fail("expected a list", self.where(node))
        items: list[Any] = []
        for index, child in enumerate(node.value):
            self._path.append(f"[{index}]")
            try:
                items.append(self.construct_object(child, deep=True))
            finally:
                self._path.pop()
        return items


def _construct_map(loader: _StrictConstructor, node: yaml.Node) -> dict[Hashable, Any]:
    return loader.construct_mapping(node, deep=True)


def _construct_seq(loader: _StrictConstructor, node: yaml.Node) -> list[Any]:
    return loader.construct_sequence(node, deep=True)


_StrictConstructor.add_constructor("tag:yaml.org,2002:map", _construct_map)
_StrictConstructor.add_constructor("tag:yaml.org,2002:seq", _construct_seq)

# Characters that change how text displays or is cut without being visible: C0/C1 controls (tab and
# newline excepted), DEL, zero-width and bidirectional formatting characters, and an inner BOM.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")
_PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_PLAIN_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")


def _construct_str(loader: _StrictConstructor, node: yaml.ScalarNode) -> str:
    value = loader.construct_scalar(node)
    if (bad := _HIDDEN.search(value)) is not None:
        raise _fail(f"control or invisible formatting character {bad.group()!r} in a string (it would hide what "
                    "the value really is)", loader.where(node), value)
    return value


def _construct_int(loader: _StrictConstructor, node: yaml.ScalarNode) -> int:
    text = node.value
    if len(text) > MAX_NUMBER_LEN:
        raise _fail(f"number longer than {MAX_NUMBER_LEN} characters", loader.where(node), text[:40])
    if not _PLAIN_INT.fullmatch(text):
        raise _fail("write integers in plain decimal: YAML readers disagree on 010, 0x10, 0o7, 0b1, 1_000 and "
                    "1:30 (quote it if it is meant as text)", loader.where(node), text)
    return int(text)


def _construct_float(loader: _StrictConstructor, node: yaml.ScalarNode) -> float:
    text = node.value
    if len(text) > MAX_NUMBER_LEN:
        raise _fail(f"number longer than {MAX_NUMBER_LEN} characters", loader.where(node), text[:40])
    if not _PLAIN_FLOAT.fullmatch(text):
        raise _fail("write numbers in plain decimal: YAML readers disagree on 1_000.5 and 1:30.5 (quote it if it "
                    "is meant as text)", loader.where(node), text)
    return loader.construct_yaml_float(node)


def _construct_bool(loader: _StrictConstructor, node: yaml.ScalarNode) -> bool:
    text: str = node.value
    if text.lower() not in ("true", "false"):
        raise _fail(f"write true or false: YAML 1.1 reads {text!r} as a boolean, YAML 1.2 (and Flink 2.x) "
                    "as a string (quote it if it is meant as text)", loader.where(node), text)
    return text.lower() == "true"


for _tag, _constructor in (("str", _construct_str), ("int", _construct_int), ("float", _construct_float),
                           ("bool", _construct_bool)):
    _StrictConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _constructor)
# timestamps/binary/sets/omap are YAML 1.1 extras the catalogue never needs; refuse them as unknown tags
def _refuse(tag: str) -> Callable[[_StrictConstructor, yaml.Node], NoReturn]:
    def construct(loader: _StrictConstructor, node: yaml.Node) -> NoReturn:
        raise _fail(f"YAML type !!{tag} is not allowed", loader.where(node))

    return construct


for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    _StrictConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse(_tag))


class _EventPath:
    """The key path of the event stream (`jobs.stream.program_args[0]`), so event-level refusals name the field."""

    def __init__(self) -> None:
        self._frames: list[list[Any]] = []  # [is_mapping, current key or index, expecting a key]

    def where(self, event: yaml.Event) -> str:
        parts = []
        for is_map, current, expecting_key in self._frames:
            if is_map and not expecting_key and current is not None:
                parts.append(str(current)[:60])
            elif not is_map:
                parts.append(f"[{current}]")
        place = _mark(event)
        return f"{'.'.join(parts).replace('.[', '[')} ({place})" if parts else place

    def _value_done(self) -> None:
        if self._frames:
            frame = self._frames[-1]
            if frame[0]:
                frame[2] = True
            else:
                frame[1] += 1

    def feed(self, event: yaml.Event) -> None:
        """Call after the checks of `event`."""
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            is_map = isinstance(event, yaml.MappingStartEvent)
            self._frames.append([is_map, None if is_map else 0, True])
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self._frames.pop()
            self._value_done()
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
            frame = self._frames[-1] if self._frames else None
            if frame is not None and frame[0] and frame[2]:
                frame[1], frame[2] = event.value if isinstance(event, yaml.ScalarEvent) else None, False
            else:
                self._value_done()


def _check_events(text: str) -> None:
    """Refuse anchors, aliases, explicit tags, several documents and deep nesting before building anything."""
    depth = 0
    documents = 0
    path = _EventPath()
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise _fail("YAML aliases (*name) are not allowed", path.where(event), event.anchor)
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                raise _fail("YAML anchors (&name) are not allowed", path.where(event), anchor)
            tag = getattr(event, "tag", None)
            if tag is not None:  # the parser reports a tag only when the text spells one out
                raise _fail("explicit YAML tags are not allowed", path.where(event), tag)
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _fail("only one YAML document is allowed", _mark(event))
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _fail(f"nesting deeper than {MAX_DEPTH} levels", path.where(event))
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
            path.feed(event)
    except yaml.YAMLError as exc:
        raise _fail(f"invalid YAML: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def load_yaml_bytes(data: bytes) -> object:
    """Parse catalogue bytes into plain dicts/lists/scalars, or raise CatalogueLoadError."""
    if len(data) > MAX_BYTES:
        raise _fail(f"file larger than {MAX_BYTES} bytes", "file", len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"not UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise _fail("NUL bytes are not allowed")
    _check_events(text)
    try:
        return yaml.load(text, Loader=_StrictConstructor)  # noqa: S506 - strict safe loader subclass
    except CatalogueLoadError:
        raise
    except yaml.YAMLError as exc:
        raise _fail(f"invalid YAML: {_one_line(exc)}") from None
    except RecursionError:
        raise _fail("nesting too deep") from None
    except (ValueError, OverflowError) as exc:  # a scalar the constructors could not convert
        raise _fail(f"value cannot be read: {_one_line(exc)}") from None
