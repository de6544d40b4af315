"""A ``metav1.LabelSelector`` as text, as kube-apiserver prints one (Scale, kubectl)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_selector"]


def format_selector(selector: Any) -> str:
    """A ``metav1.LabelSelector`` (or a map, for replicationcontrollers) as the string
    kube's ``FormatLabelSelector`` writes (``app=web,tier in (a,b)``).

    As apimachinery's selectors print: one requirement per ``matchLabels`` entry and
    per expression, sorted by key (labels and expressions together), the values of
    ``in`` and ``notin`` sorted.
    """
    if not isinstance(selector, dict):
        return ""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    parts = [(str(k), f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or ():
        op, key, values = e.get("operator"), str(e.get("key")), sorted(e.get("values") or [])
        if op == "In":
            parts.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            parts.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
    parts.sort(key=lambda part: part[0])
    return ",".join(text for _, text in parts) or "<none>"
