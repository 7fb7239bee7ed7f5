"""JSON patches: computing one (admission) and applying them (the fake cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from wharf import Conflict, Invalid
from wharf.patch import apply_json_patch, apply_merge_patch, diff, same


@pytest.mark.parametrize(
    ("before", "after", "operations"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 2}, [{"op": "replace", "path": "/a", "value": 2}]),
        ({"a": 1}, {}, [{"op": "remove", "path": "/a"}]),
        ({}, {"a": {"b": [1]}}, [{"op": "add", "path": "/a", "value": {"b": [1]}}]),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}, [{"op": "replace", "path": "/a/c", "value": 3}]),
        ({"l": [1, 2]}, {"l": [1, 3]}, [{"op": "replace", "path": "/l", "value": [1, 3]}]),
        ({"a/b~c": 1}, {"a/b~c": 2}, [{"op": "replace", "path": "/a~1b~0c", "value": 2}]),
        ({"f": True}, {"f": 1}, [{"op": "replace", "path": "/f", "value": 1}]),
        ({"f": {"g": True}}, {"f": {"g": 1}}, [{"op": "replace", "path": "/f/g", "value": 1}]),
        ({"a": 1}, [1], [{"op": "replace", "path": "", "value": [1]}]),
    ],
    ids=["equal", "replace", "remove", "add", "nested", "lists whole", "escaped", "bool is not int", "nested bool", "root"],
)
def test_diff_gives_the_json_patch_between_two_documents(before: Any, after: Any, operations: list[dict[str, Any]]) -> None:
    assert diff(before, after) == operations
    assert same(apply_json_patch(before, operations), after)


def test_diff_copies_values_so_later_changes_do_not_leak_into_the_patch() -> None:
    after = {"labels": {"a": "1"}}
    operations = diff({}, after)
    after["labels"]["a"] = "2"
    assert operations[0]["value"] == {"labels": {"a": "1"}}["labels"]


def test_merge_patches_follow_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2], "s": "x"}
    patched = apply_merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3], "n": {"m": 1}})
    assert patched == {"a": {"c": 2, "d": 3}, "l": [3], "s": "x", "n": {"m": 1}}
    assert target["a"] == {"b": 1, "c": 2}, "the target is not changed"


def test_strategic_patches_drop_directives_and_replace_lists() -> None:
    target = {"metadata": {"labels": {"a": "1"}}}
    patch = {"metadata": {"$retainKeys": ["labels"], "labels": {"b": "2"}}, "l": [{"$patch": "delete", "uid": "u"}]}
    assert apply_merge_patch(target, patch, strategic=True) == {"metadata": {"labels": {"a": "1", "b": "2"}}, "l": [{"uid": "u"}]}


def test_json_patches_follow_rfc_6902() -> None:
    target = {"a": [1, 2], "b": {"c~/": 1}}
    operations = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "add", "path": "/a/0", "value": 0},
        {"op": "remove", "path": "/b/c~0~1"},
        {"op": "replace", "path": "/a/1", "value": 9},
        {"op": "copy", "from": "/a", "path": "/d"},
        {"op": "move", "from": "/d", "path": "/b/e"},
        {"op": "test", "path": "/b/e/1", "value": 9},
    ]
    assert apply_json_patch(target, operations) == {"a": [0, 9, 2, 3], "b": {"e": [0, 9, 2, 3]}}


@pytest.mark.parametrize(
    ("operations", "error"),
    [
        ([{"op": "remove", "path": "/a"}, {"op": "test", "path": "/a", "value": 1}], Conflict),
        ([{"op": "remove", "path": "/x"}], Invalid),
        ([{"op": "add", "path": "/x/y", "value": 1}], Invalid),
        ([{"op": "replace", "path": "/a"}], Invalid),
        ([{"op": "frobnicate", "path": "/a"}], Invalid),
        ([{"op": "add", "path": "a", "value": 1}], Invalid),
        ({"op": "add"}, Invalid),
    ],
)
def test_a_failed_json_patch_changes_nothing(operations: Any, error: type[Exception]) -> None:
    target = {"a": 1}
    with pytest.raises(error):
        apply_json_patch(target, operations)
    assert target == {"a": 1}
