"""Label and field selectors: parsing, matching, and the errors for bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcs.core import FieldSelector, LabelSelector, SelectorError, get_path


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a in (x, y)", {"a": "y"}, True),
        ("a in (x,y)", {"a": "z"}, False),
        ("a notin (x,y)", {}, True),
        ("a notin (x,y)", {"a": "x"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": ""}, False),
        ("!a", {"b": "1"}, True),
        ("app=web,tier in (frontend),!canary", {"app": "web", "tier": "frontend"}, True),
        ("example.com/role=x", {"example.com/role": "x"}, True),
    ],
)
def test_label_selector_matches(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(labels) is expected


@pytest.mark.parametrize(
    "bad", ["a in ()", "a in (x", "=b", "a=b=c", "a in x", "a b", "-a=b", "a=" + "x" * 64, "a,,b"]
)
def test_invalid_label_selectors_raise(bad: str) -> None:
    with pytest.raises(SelectorError):
        LabelSelector.parse(bad)


def test_structured_label_selector() -> None:
    sel = LabelSelector.from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }
    )
    assert sel.matches({"app": "web", "tier": "a"})
    assert not sel.matches({"app": "web", "tier": "a", "canary": "1"})
    with pytest.raises(SelectorError):
        LabelSelector.from_dict({"matchExpressions": [{"key": "k", "operator": "Near"}]})


@given(st.dictionaries(st.sampled_from("abc"), st.sampled_from(["x", "y"]), max_size=3))
def test_selector_string_form_round_trips(labels: dict[str, str]) -> None:
    sel = LabelSelector.of(labels)
    assert LabelSelector.parse(str(sel)) == LabelSelector.parse(str(LabelSelector.parse(str(sel))))
    assert sel.matches(labels)


def test_field_selector() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    sel = FieldSelector.parse("spec.nodeName=n1,status.phase!=Pending")
    assert sel.matches(lambda path: get_path(pod, path))
    assert not FieldSelector.parse("spec.nodeName==n2").matches(lambda p: get_path(pod, p))
    assert FieldSelector.parse("spec.nodeName=").matches(lambda p: None)
    assert sel.paths == {"spec.nodeName", "status.phase"}
    with pytest.raises(SelectorError):
        FieldSelector.parse("spec.nodeName")
