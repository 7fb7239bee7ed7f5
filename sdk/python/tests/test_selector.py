"""Label selectors: matching and text, as apimachinery has them."""

from __future__ import annotations

from typing import Any

import pytest

from wharf import Invalid, Selector, matches

WEB = {"app": "web", "tier": "a"}


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {}, True),
        ("", {"a": "b"}, True),
        ("app=web", WEB, True),
        ("app==web,tier=a", WEB, True),
        ("app=db", WEB, False),
        ("app!=db", WEB, True),
        ("app!=db", {}, True),
        ("app!=web", WEB, False),
        ("tier in (a,b)", WEB, True),
        ("tier in (b)", WEB, False),
        ("tier in (a)", {}, False),
        ("tier notin (b,c)", WEB, True),
        ("tier notin (a)", WEB, False),
        ("tier notin (a)", {}, True),
        ("app", WEB, True),
        ("canary", WEB, False),
        ("!canary", WEB, True),
        ("!app", WEB, False),
        (" app = web , tier in ( a , b ) ", WEB, True),
    ],
)
def test_text_selectors_match_as_kubernetes_does(text: str, labels: dict[str, str], expected: bool) -> None:
    assert Selector.parse(text).matches(labels) is expected
    assert matches(text, labels) is expected


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"app": "web"}}, WEB, True),
        ({"matchLabels": {"app": "web", "tier": "b"}}, WEB, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}, WEB, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, WEB, False),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, WEB, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, WEB, False),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, None, True),
        (None, WEB, False),
    ],
)
def test_label_selector_dicts_match_as_kubernetes_does(selector: Any, labels: Any, expected: bool) -> None:
    assert matches(selector, labels) is expected


def test_a_selector_prints_as_the_text_a_list_call_takes_sorted_by_key() -> None:
    selector = Selector.from_label_selector(
        {
            "matchLabels": {"tier": "a", "app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "NotIn", "values": ["qa", "dev"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists"},
            ],
        }
    )
    assert str(selector) == "app=web,!canary,env notin (dev,qa),tier=a,zone"
    assert Selector.parse(str(selector)) == selector
    assert str(Selector.everything()) == "" and Selector.parse("").is_everything()


@pytest.mark.parametrize(
    "text",
    ["app=web,", "app in a", "app in (a", "app >= 3", "=web", "app=we b", "tier in ()"],
)
def test_bad_text_is_invalid(text: str) -> None:
    with pytest.raises(Invalid):
        Selector.parse(text)


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"matchLabels": {"a": "not a value"}},
        {"matchLabels": {"": "x"}},
    ],
)
def test_bad_label_selectors_are_invalid(selector: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        Selector.from_label_selector(selector)
