"""Typed YAML loading: dataclasses in, file:line:key-path errors out.

The manifest and the site model are plain dataclasses. `load_yaml_as()` parses
a YAML file keeping node positions, then builds the dataclass, rejecting
unknown keys, missing required keys and wrong types with an InputError that
names the file, line, column and the key path (e.g. `el.7.repos[2].baseurl`).

Supported field types: str, int, float, bool, Optional[T], list[T],
dict[str, T], Literal[...], and nested dataclasses. A field's YAML key is its
name with '_' -> '-' only when declared with metadata {"key": "..."}.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any, Union

import yaml

from .errors import InputError

T = typing.TypeVar("T")

try:  # PyYAML's C loader is much faster on big files; fall back to pure Python.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


def key_of(f: dataclasses.Field) -> str:
    return f.metadata.get("key", f.name)


def _path_join(base: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{base}[{part}]"
    return f"{base}.{part}" if base else str(part)


class _Ctx:
    def __init__(self, path: str, error_cls: type[InputError]):
        self.path = path
        self.error_cls = error_cls

    def fail(self, node: yaml.Node | None, key: str, message: str, hint: str | None = None):
        line = node.start_mark.line + 1 if node is not None else None
        col = node.start_mark.column + 1 if node is not None else None
        raise self.error_cls(message, hint, path=self.path, line=line, column=col, key=key or None)


def _scalar(node: yaml.Node, ctx: _Ctx, key: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        kind = "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
        ctx.fail(node, key, f"expected a single value, found {kind}")
    return _CONSTRUCTOR.construct_object(node, deep=True)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
_TYPE_HINTS = {str: "Write a text value (quote it if it looks like a number or true/false).",
               int: "Write a whole number without quotes, e.g. 3306.",
               float: "Write a number without quotes, e.g. 1.5.",
               bool: "Write true or false, without quotes."}


def _value_words(value: Any) -> str:
    """A YAML value in words ('the text \'8080x\'', 'true'), not a Python type name."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if value is None:
        return "nothing (null)"
    return f"{value!r}"


def _build(tp: Any, node: yaml.Node, ctx: _Ctx, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    if origin is Union:
        non_none = [a for a in args if a is not type(None)]
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            if type(None) in args:
                return None
        if len(non_none) == 1:
            return _build(non_none[0], node, ctx, key)
        errors = []
        for alt in non_none:
            try:
                return _build(alt, node, ctx, key)
            except InputError as exc:
                errors.append(exc)
        raise errors[-1]
    if origin is typing.Literal:
        value = _scalar(node, ctx, key)
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            ctx.fail(node, key, f"invalid value {value!r}; expected one of {allowed}")
        return value
    if origin in (list, typing.List):  # noqa: UP006
        if not isinstance(node, yaml.SequenceNode):
            ctx.fail(node, key, "expected a list")
        return [_build(args[0], item, ctx, _path_join(key, i)) for i, item in enumerate(node.value)]
    if origin in (dict, typing.Dict):  # noqa: UP006
        if not isinstance(node, yaml.MappingNode):
            ctx.fail(node, key, "expected a mapping")
        out = {}
        for knode, vnode in node.value:
            k = str(_scalar(knode, ctx, key))
            if k in out:
                ctx.fail(knode, _path_join(key, k), "duplicate key")
            out[k] = _build(args[1], vnode, ctx, _path_join(key, k))
        return out
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, node, ctx, key)
    if tp in _TYPE_NAMES:
        value = _scalar(node, ctx, key)
        ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            # versions like 10.11 or 7 are written unquoted all the time
            value, ok = node.value, True
        if not ok:
            ctx.fail(node, key, f"expected {_TYPE_NAMES[tp]}, found {_value_words(value)}",
                     hint=_TYPE_HINTS[tp])
        return value
    raise TypeError(f"schema: unsupported field type {tp!r}")  # a bug in a model, not user input


def _build_dataclass(cls: type, node: yaml.Node, ctx: _Ctx, key: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        ctx.fail(node, key, f"expected a mapping ({cls.__name__})")
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    fields = {key_of(f): f for f in dataclasses.fields(cls) if f.init}
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for knode, vnode in node.value:
        k = str(_scalar(knode, ctx, key))
        kp = _path_join(key, k)
        if k in seen:
            ctx.fail(knode, kp, "duplicate key")
        seen.add(k)
        f = fields.get(k)
        if f is None:
            import difflib
            close = difflib.get_close_matches(k, list(fields), n=1)
            hint = f"Did you mean '{close[0]}'?" if close else f"Known keys: {', '.join(sorted(fields))}."
            ctx.fail(knode, kp, f"unknown key '{k}'", hint)
        values[f.name] = _build(hints[f.name], vnode, ctx, kp)
    for k, f in fields.items():
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            ctx.fail(node, _path_join(key, k), f"missing required key '{k}'")
    obj = cls(**values)
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
            check()
        except InputError:
            raise
        except ValueError as exc:
            ctx.fail(node, key, str(exc))
    return obj


def parse_yaml(text: str, path: str, error_cls: type[InputError] = InputError) -> yaml.Node:
    """Compose YAML text into a node tree; a syntax error names line and column."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise error_cls(f"malformed YAML: {problem}", "Fix the syntax at that position.", path=path,
                        line=mark.line + 1 if mark else None,
                        column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise error_cls(f"malformed YAML: {exc}", path=path) from None
    if node is None:
        raise error_cls("the file is empty", path=path)
    return node


def load_yaml_as(cls: type[T], path: str | Path, error_cls: type[InputError] = InputError,
                 text: str | None = None) -> T:
    """Read `path` (or `text`, reported as `path`) and build a `cls` from it."""
    spath = str(path)
    if text is None:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise error_cls(f"cannot read the file: {exc.strerror}", path=spath) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error_cls(f"the file is not UTF-8 text (byte {exc.start})", path=spath) from None
    node = parse_yaml(text, spath, error_cls)
    return _build(cls, node, _Ctx(spath, error_cls), "")
