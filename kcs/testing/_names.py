"""Names and label syntax as kube-apiserver checks them (``k8s.io/apimachinery``'s
``util/validation``): DNS-1123 subdomains and labels, DNS-1035 labels, qualified names (label
and annotation keys, finalizers), label values, and the messages kube words them with."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kcs.testing._fielderrors import FieldError, duplicate, invalid

__all__ = [
    "dns1035_label",
    "dns1123_label",
    "dns1123_subdomain",
    "label_problems",
    "label_value",
    "max_len",
    "qualified_name",
    "regex_error",
    "unique_name",
]

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = rf"{_LABEL}(\.{_LABEL})*"
_SUBDOMAIN = re.compile(rf"^{_SUBDOMAIN_FMT}$")
_DNS_LABEL = re.compile(rf"^{_LABEL}$")
_DNS1035_FMT = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035 = re.compile(rf"^{_DNS1035_FMT}$")
_QUALIFIED_FMT = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED = re.compile(rf"^{_QUALIFIED_FMT}$")
_LABEL_VALUE_FMT = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_LABEL_VALUE = re.compile(rf"^{_LABEL_VALUE_FMT}$")



def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """kube's ``RegexError``: the message, examples and the regular expression."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len(n: int) -> str:
    """kube's ``MaxLenError``."""
    return f"must be no more than {n} characters"


def dns1123_subdomain(value: str) -> list[str]:
    """``IsDNS1123Subdomain``: why ``value`` is not one (empty when it is)."""
    errs = [max_len(253)] if len(value) > 253 else []
    if not _SUBDOMAIN.match(value):
        errs.append(regex_error("a lowercase RFC 1123 subdomain must consist of lower case "
                                "alphanumeric characters, '-' or '.', and must start and end "
                                "with an alphanumeric character", _SUBDOMAIN_FMT,
                                "example.com"))
    return errs


def dns1123_label(value: str) -> list[str]:
    """``IsDNS1123Label``: why ``value`` is not one (empty when it is)."""
    errs = [max_len(63)] if len(value) > 63 else []
    if not _DNS_LABEL.match(value):
        errs.append(regex_error("a lowercase RFC 1123 label must consist of lower case "
                                "alphanumeric characters or '-', and must start and end with "
                                "an alphanumeric character", _LABEL, "my-name", "123-abc"))
    return errs


def dns1035_label(value: str) -> list[str]:
    """``IsDNS1035Label``: why ``value`` is not one (empty when it is)."""
    errs = [max_len(63)] if len(value) > 63 else []
    if not _DNS1035.match(value):
        errs.append(regex_error("a DNS-1035 label must consist of lower case alphanumeric "
                                "characters or '-', start with an alphabetic character, and "
                                "end with an alphanumeric character", _DNS1035_FMT,
                                "my-name", "abc-123"))
    return errs


def qualified_name(value: str) -> list[str]:
    """``IsQualifiedName`` (label keys, annotation keys, finalizers)."""
    parts = value.split("/")
    errs: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + regex_error(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character", _QUALIFIED_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len(63))
    if not _QUALIFIED.match(name):
        errs.append("name part " + regex_error(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character", _QUALIFIED_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    """``IsValidLabelValue``."""
    errs = [max_len(63)] if len(value) > 63 else []
    if not _LABEL_VALUE.match(value):
        errs.append(regex_error("a valid label must be an empty string or consist of "
                                "alphanumeric characters, '-', '_' or '.', and must start and "
                                "end with an alphanumeric character", _LABEL_VALUE_FMT,
                                "MyValue", "my_value", "12345"))
    return errs


def label_problems(labels: Any, path: str) -> list[FieldError]:
    """``ValidateLabels``: invalid keys and values of a label map at ``path``."""
    if not isinstance(labels, dict):
        return []
    errors: list[FieldError] = []
    for k, v in labels.items():
        errors.extend(invalid(path, k, m) for m in qualified_name(str(k)))
        errors.extend(invalid(path, v, m) for m in label_value(str(v)))
    return errors


def unique_name(path: str, name: Any, problems: Callable[[str], list[str]], seen: set[str],
                errors: list[FieldError]) -> None:
    """The name of one item of a list (a volume, a container, a port) at ``path``: invalid
    as ``problems`` words it, ``Duplicate value`` when ``seen`` has it already; it is
    added to ``seen``."""
    errors.extend(invalid(path, name, m) for m in problems(str(name)))
    if name in seen:
        errors.append(duplicate(path, name))
    seen.add(str(name))
