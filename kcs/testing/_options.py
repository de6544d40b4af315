"""The write options (``CreateOptions``, ``UpdateOptions``, ``PatchOptions``,
``DeleteOptions``) and their validation, with kube-apiserver's errors.

Invalid options are ``422 Invalid`` for the options kind in ``meta.k8s.io``, with the name
``""`` and one cause per problem, worded as kube words them::

    PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch
    CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"bogus"}: supported values: "All"
    DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "bogus": supported values: "Foreground", "Background", "Orphan", "nil"

A DeleteOptions body that does not decode (a string for ``gracePeriodSeconds``) is 400.
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from kcs.testing._status import OptionError, bad_request, invalid_options

__all__ = [
    "PROPAGATION_POLICIES",
    "DeleteOptions",
    "check_field_manager",
    "check_patch_options",
    "delete_options",
    "write_option_causes",
]

PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
MAX_FIELD_MANAGER_LENGTH = 128


def _go_strings(values: Sequence[str]) -> str:
    return "[]string{" + ", ".join(orjson.dumps(v).decode() for v in values) + "}"


def _dry_run_causes(values: Sequence[str]) -> list[OptionError]:
    if all(v == "All" for v in values):
        return []
    return [("FieldValueNotSupported", "dryRun",
             f'Unsupported value: {_go_strings(values)}: supported values: "All"')]


def _manager_causes(manager: str | None) -> list[OptionError]:
    if manager is None:
        return []
    if len(manager.encode()) > MAX_FIELD_MANAGER_LENGTH:
        return [("FieldValueTooLong", "fieldManager",
                 f"Too long: may not be more than {MAX_FIELD_MANAGER_LENGTH} bytes")]
    if not manager.isprintable():
        return [("FieldValueInvalid", "fieldManager",
                 f"Invalid value: {orjson.dumps(manager).decode()}: is invalid, must only "
                 "contain printable characters")]
    return []


def check_field_manager(kind: str, manager: str | None) -> None:
    """Validate a ``fieldManager`` (at most 128 bytes, printable)."""
    causes = _manager_causes(manager)
    if causes:
        raise invalid_options(kind, causes)


def write_option_causes(
    verb: str, *, apply: bool = False, manager: str | None = None, force: bool | None = None,
    dry_run: Sequence[str] = (),
) -> list[OptionError]:
    """The problems kube's ``Validate{Create,Update,Patch}Options`` find, in its order:
    for a patch, ``force`` only with apply and ``fieldManager`` required for apply; then
    the fieldManager rules (not for deletes) and the dryRun rule."""
    causes: list[OptionError] = []
    if verb == "patch":
        if not apply:
            if force is not None:
                causes.append(("FieldValueForbidden", "force",
                               "Forbidden: may not be specified for non-apply patch"))
        elif not manager:
            causes.append(("FieldValueRequired", "fieldManager",
                           "Required value: is required for apply patch"))
    if verb not in ("delete", "deletecollection"):
        causes += _manager_causes(manager)
    causes += _dry_run_causes(dry_run)
    return causes


def check_patch_options(apply: bool, manager: str | None, force: bool | None,
                        dry_run: Sequence[str] = ()) -> None:
    """kube's ValidatePatchOptions: ``fieldManager`` is required for apply, ``force`` only
    allowed with apply, plus the fieldManager and dryRun rules."""
    causes = write_option_causes("patch", apply=apply, manager=manager, force=force,
                                 dry_run=dry_run)
    if causes:
        raise invalid_options("PatchOptions", causes)


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    """A decoded, validated ``DeleteOptions``."""

    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    preconditions: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False


def _int(body: Mapping[str, Any], name: str) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise bad_request(f"json: cannot unmarshal {type(v).__name__} into Go struct field "
                          f"DeleteOptions.{name} of type int64")
    return v


def delete_options(body: Any = None, query: Mapping[str, str] | None = None) -> DeleteOptions:
    """Decode and validate DeleteOptions from a request body or, when the body is empty,
    from the query (``gracePeriodSeconds``, ``propagationPolicy``, ``orphanDependents``,
    ``dryRun``), as kube-apiserver does."""
    if isinstance(body, DeleteOptions):
        return body
    if body is None:
        body = _from_query(query or {})
    if not isinstance(body, Mapping):
        raise bad_request("the DeleteOptions must be a JSON object")
    grace = _int(body, "gracePeriodSeconds")
    policy = body.get("propagationPolicy")
    if policy is not None and not isinstance(policy, str):
        raise bad_request("json: cannot unmarshal into Go struct field "
                          "DeleteOptions.propagationPolicy of type v1.DeletionPropagation")
    orphan = body.get("orphanDependents")
    if orphan is not None and not isinstance(orphan, bool):
        raise bad_request("json: cannot unmarshal into Go struct field "
                          "DeleteOptions.orphanDependents of type bool")
    pre = body.get("preconditions") or {}
    if not isinstance(pre, Mapping):
        raise bad_request("json: cannot unmarshal into Go struct field "
                          "DeleteOptions.preconditions of type v1.Preconditions")
    dry = body.get("dryRun") or []
    if isinstance(dry, str):
        dry = [dry]
    if not isinstance(dry, list) or not all(isinstance(d, str) for d in dry):
        raise bad_request("json: cannot unmarshal into Go struct field DeleteOptions.dryRun "
                          "of type []string")
    causes: list[OptionError] = []
    if orphan is not None and policy is not None:
        causes.append(("FieldValueInvalid", "propagationPolicy",
                       f"Invalid value: {orjson.dumps(policy).decode()}: orphanDependents and "
                       "deletionPropagation cannot be both set"))
    if policy is not None and policy not in PROPAGATION_POLICIES:
        causes.append(("FieldValueNotSupported", "propagationPolicy",
                       f"Unsupported value: {orjson.dumps(policy).decode()}: supported values: "
                       '"Foreground", "Background", "Orphan", "nil"'))
    causes += _dry_run_causes(dry)
    if causes:
        raise invalid_options("DeleteOptions", causes)
    return DeleteOptions(
        grace_period_seconds=grace, propagation_policy=policy, orphan_dependents=orphan,
        preconditions={str(k): str(v) for k, v in pre.items() if v is not None},
        dry_run=bool(dry),
    )


def _from_query(query: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "gracePeriodSeconds" in query:
        raw = query["gracePeriodSeconds"]
        try:
            out["gracePeriodSeconds"] = int(raw)
        except ValueError:
            raise bad_request(f'gracePeriodSeconds: invalid value "{raw}"') from None
    if "propagationPolicy" in query:
        out["propagationPolicy"] = query["propagationPolicy"]
    if "orphanDependents" in query:
        out["orphanDependents"] = query["orphanDependents"].lower() in ("true", "1")
    getall = getattr(query, "getall", None)
    dry = list(getall("dryRun", [])) if getall else (
        [query["dryRun"]] if "dryRun" in query else [])
    if dry:
        out["dryRun"] = dry
    return out
