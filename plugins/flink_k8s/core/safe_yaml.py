"""A deliberately small YAML subset for the job catalogue.

Why: the catalogue is hand-edited and reaches command lines, so the loader refuses everything that
makes YAML surprising: anchors/aliases (alias bombs, hidden sharing), merge keys, duplicate keys
(the later one silently wins in PyYAML), non-string keys (`1.20:` is a float), custom tags,
very deep nesting, oversized input and non-UTF-8 bytes. Pure: takes bytes, returns plain data.
"""

from __future__ import annotations

import yaml

from flink_k8s.core.errors import CatalogueLoadError, Problem

MAX_BYTES = 1024 * 1024  # a 500-job catalogue is ~150 KB
MAX_DEPTH = 12

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _fail(rule: str, where: str = "file", value: object = None) -> CatalogueLoadError:
    return CatalogueLoadError([Problem(None, where, value, rule)])


def _mark(node_or_event) -> str:
    mark = getattr(node_or_event, "start_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"


class _StrictConstructor(_Loader):
    """Safe constructor that refuses duplicate and non-string mapping keys."""

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            raise _fail("expected a mapping", _mark(node))
        mapping: dict[str, object] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _fail("YAML merge keys (<<) are not allowed", _mark(key_node), "<<")
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _fail(
                    "mapping keys must be strings (quote it: YAML reads 1.20 as the number 1.2)",
                    _mark(key_node),
                    key,
                )
            if key in mapping:
                raise _fail("duplicate key (YAML would silently keep only the last one)", _mark(key_node), key)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


_StrictConstructor.add_constructor("tag:yaml.org,2002:map", lambda loader, node: loader.construct_mapping(node, deep=True))
# timestamps/binary/sets/omap are YAML 1.1 extras the catalogue never needs; refuse them as unknown tags
for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    _StrictConstructor.add_constructor(
        f"tag:yaml.org,2002:{_tag}",
        lambda loader, node, _t=_tag: (_ for _ in ()).throw(_fail(f"YAML type !!{_t} is not allowed", _mark(node))),
    )


def _check_events(text: str) -> None:
    """Refuse anchors, aliases, explicit tags, several documents and deep nesting before building anything."""
    depth = 0
    documents = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise _fail("YAML aliases (*name) are not allowed", _mark(event), event.anchor)
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                raise _fail("YAML anchors (&name) are not allowed", _mark(event), anchor)
            tag = getattr(event, "tag", None)
            if tag is not None:  # the parser reports a tag only when the text spells one out
                raise _fail("explicit YAML tags are not allowed", _mark(event), tag)
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _fail("only one YAML document is allowed", _mark(event))
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _fail(f"nesting deeper than {MAX_DEPTH} levels", _mark(event))
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
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
