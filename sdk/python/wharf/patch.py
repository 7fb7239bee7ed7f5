"""JSON patches: computing one (:func:`diff`, what an admission plugin
answers with) and applying them (:func:`apply_merge_patch`,
:func:`apply_json_patch`, what the fake cluster does).

>>> before = {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}}
>>> after = {"metadata": {"labels": {"a": "1", "team": "x"}}, "spec": {"replicas": 2}}
>>> operations = diff(before, after)
>>> operations
[{'op': 'add', 'path': '/metadata/labels/team', 'value': 'x'}, {'op': 'replace', 'path': '/spec/replicas', 'value': 2}]
>>> apply_json_patch(before, operations) == after
True
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from .errors import Conflict, Invalid

__all__ = ["diff", "same", "escape", "apply_merge_patch", "apply_json_patch"]

#: One RFC 6902 operation: ``{"op": "add", "path": "/a/b", "value": ...}``.
Operation = dict[str, Any]


def diff(before: Any, after: Any) -> list[Operation]:
    """The RFC 6902 JSON patch that turns ``before`` into ``after``: objects
    compared key by key (removals and changes in ``before``'s key order,
    then additions), anything else (lists included) replaced whole where
    it differs. Equal documents give ``[]``."""
    operations: list[Operation] = []
    _diff(before, after, "", operations)
    return operations


def _diff(before: Any, after: Any, path: str, out: list[Operation]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in before.items():
            child = f"{path}/{escape(key)}"
            if key not in after:
                out.append({"op": "remove", "path": child})
            elif not same(value, after[key]):
                _diff(value, after[key], child, out)
        for key, value in after.items():
            if key not in before:
                out.append({"op": "add", "path": f"{path}/{escape(key)}", "value": copy.deepcopy(value)})
    elif not same(before, after):
        out.append({"op": "replace", "path": path, "value": copy.deepcopy(after)})


def same(a: Any, b: Any) -> bool:
    """Whether two JSON documents are equal as JSON (where ``True`` is not ``1``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(value, b[key]) for key, value in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and bool(a == b)
    return bool(a == b)


def escape(key: str) -> str:
    """A JSON pointer segment (``~`` and ``/`` escaped)."""
    return key.replace("~", "~0").replace("/", "~1")


def apply_merge_patch(target: Any, patch: Any, *, strategic: bool = False) -> Any:
    """``target`` with a JSON merge patch (RFC 7386) applied (a new document;
    ``target`` is not changed): objects merge key by key, ``None`` removes a
    key, anything else (lists included) replaces.

    With ``strategic``, this stands in for a strategic merge patch: keys
    starting with ``$`` (its directives) are dropped, and lists are still
    replaced whole (no merge keys)."""
    if not isinstance(patch, dict):
        return _strip_directives(patch) if strategic else copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if strategic and key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value, strategic=strategic)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return copy.deepcopy(value)


def apply_json_patch(target: Any, operations: Sequence[Mapping[str, Any]]) -> Any:
    """``target`` with an RFC 6902 JSON patch applied (a new document;
    ``target`` is not changed): ``add``, ``remove``, ``replace``, ``move``,
    ``copy`` and ``test``, all or nothing. A failed ``test`` is a
    :class:`~wharf.errors.Conflict`, any other failure :class:`~wharf.errors.Invalid`."""
    if not isinstance(operations, (list, tuple)):
        raise Invalid("a JSON patch must be a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        op = operation.get("op")
        path = _string_field(operation, "path")
        if op == "add":
            document = _add(document, path, copy.deepcopy(_value_field(operation)))
        elif op == "remove":
            document, _ = _remove(document, path)
        elif op == "replace" and path == "":
            document = copy.deepcopy(_value_field(operation))
        elif op == "replace":
            document, _ = _remove(document, path)
            document = _add(document, path, copy.deepcopy(_value_field(operation)))
        elif op == "move":
            document, value = _remove(document, _string_field(operation, "from"))
            document = _add(document, path, value)
        elif op == "copy":
            source = _string_field(operation, "from")
            document = _add(document, path, copy.deepcopy(_resolve(document, source)))
        elif op == "test":
            found = _resolve(document, path, missing_ok=True)
            if found is _MISSING or not same(found, _value_field(operation)):
                raise Conflict(f"JSON patch test failed at {path!r}")
        else:
            raise Invalid(f"unknown JSON patch operation {op!r}")
    return document


_MISSING = object()


def _string_field(operation: Mapping[str, Any], field: str) -> str:
    value = operation.get(field)
    if not isinstance(value, str):
        raise Invalid(f"JSON patch operation without {field!r}: {dict(operation)}")
    return value


def _value_field(operation: Mapping[str, Any]) -> Any:
    if "value" not in operation:
        raise Invalid(f"JSON patch operation without 'value': {dict(operation)}")
    return operation["value"]


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise Invalid(f"{path!r} is not a JSON pointer")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _resolve(document: Any, path: str, *, missing_ok: bool = False) -> Any:
    node = document
    for token in _tokens(path):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif missing_ok:
            return _MISSING
        else:
            raise Invalid(f"JSON patch path {path!r} does not exist")
    return node


def _split(path: str) -> tuple[str, str]:
    tokens = _tokens(path)
    if not tokens:
        raise Invalid(f"{path!r} has no parent")
    parent = path[: path.rfind("/")]
    return parent, tokens[-1]


def _add(document: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    parent_path, token = _split(path)
    parent = _resolve(document, parent_path)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        index = len(parent) if token == "-" else _index(token, path)
        if index > len(parent):
            raise Invalid(f"JSON patch path {path!r} does not exist")
        parent.insert(index, value)
    else:
        raise Invalid(f"JSON patch path {path!r} does not exist")
    return document


def _remove(document: Any, path: str) -> tuple[Any, Any]:
    parent_path, token = _split(path)
    parent = _resolve(document, parent_path)
    if isinstance(parent, dict) and token in parent:
        return document, parent.pop(token)
    if isinstance(parent, list):
        index = _index(token, path)
        if index < len(parent):
            return document, parent.pop(index)
    raise Invalid(f"JSON patch path {path!r} does not exist")


def _index(token: str, path: str) -> int:
    if not token.isdigit():
        raise Invalid(f"JSON patch path {path!r} does not exist")
    return int(token)
