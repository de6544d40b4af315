"""Image policy: flag the Deployments whose images come from registries that are not allowed.

For every Deployment, the controller reads the images of its pod template (containers and
init containers) from the cache. If one comes from a registry that is not allowed, it
sets the label ``image-policy.kcs.dev/violation=true`` and records a Warning Event naming
the images; once they are fixed, it removes the label and records a Normal Event.

Run it with ``kcs run image_policy:controllers`` (the factory at the end of this file);
the allowed registries come from the environment::

    IMAGE_POLICY_ALLOWED_REGISTRIES="registry.k8s.io ghcr.io/acme" \
        kcs run image_policy:controllers

See README.md next to this file for running it against the fake apiserver, building its
image and deploying it.
"""

# --8<-- [start:imports]
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kcs.controller import (
    Builder,
    Context,
    Controller,
    GenerationChanged,
    LabelsChanged,
    Result,
    any_of,
)
from kcs.core import ObjectKey, builtin

DEPLOYMENTS = builtin("deployments.apps")
LABEL = "image-policy.kcs.dev/violation"
ALLOWED_ENV = "IMAGE_POLICY_ALLOWED_REGISTRIES"
# --8<-- [end:imports]


# -- the policy: pure functions, tested without a cluster -------------------------------


# --8<-- [start:rules]
def registry_path(image: str) -> str:
    """``registry/repository`` of an image reference, with Docker Hub's defaults filled in.

    ``nginx`` -> ``docker.io/library/nginx``; ``ghcr.io/acme/app:1`` -> ``ghcr.io/acme/app``.
    """
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:  # a tag (a port can only be in the first component)
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    first, sep, _ = name.partition("/")
    if not sep:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def allowed(image: str, registries: Iterable[str]) -> bool:
    """Whether ``image`` comes from one of ``registries`` (prefixes of whole path
    components, such as ``registry.k8s.io`` or ``ghcr.io/acme``)."""
    path = registry_path(image)
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in registries)


def images(spec: Mapping[str, Any]) -> list[str]:
    """The images of a Deployment spec's pod template (init containers first)."""
    pod = (spec.get("template") or {}).get("spec") or {}
    containers = [*(pod.get("initContainers") or ()), *(pod.get("containers") or ())]
    return [c["image"] for c in containers if c.get("image")]


def disallowed(spec: Mapping[str, Any], registries: Iterable[str]) -> list[str]:
    """The images of ``spec`` that no registry of ``registries`` allows, sorted, once each."""
    allow = tuple(registries)
    return sorted({i for i in images(spec) if not allowed(i, allow)})


def registries_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The allowed registries in ``$IMAGE_POLICY_ALLOWED_REGISTRIES``, separated by spaces
    or commas. Raises ``SystemExit`` with a message when there is none: a policy that
    allows nothing would flag every Deployment in the cluster."""
    env = os.environ if environ is None else environ
    found = [r for r in env.get(ALLOWED_ENV, "").replace(",", " ").split() if r]
    if not found:
        raise SystemExit(f"image-policy: set {ALLOWED_ENV} to the allowed registries, "
                         f"for example {ALLOWED_ENV}='registry.k8s.io ghcr.io/acme'")
    return found
# --8<-- [end:rules]


# -- the controller ---------------------------------------------------------------------


# --8<-- [start:controller]
class ImagePolicy(Controller):
    """Labels Deployments that use images from registries not in ``registries``."""

    name = "image-policy"
    max_concurrent_reconciles = 4

    def __init__(self, registries: Sequence[str]) -> None:
        if isinstance(registries, str) or not registries:
            raise ValueError("registries must be a non-empty list of registry prefixes")
        self.registries = tuple(registries)

    def setup(self, builder: Builder) -> None:
        # Wake up for spec changes (new images) and label changes (someone removed ours);
        # status updates, which are most of a Deployment's writes, are filtered out. The
        # namespace watched is kcs run's --namespace (all namespaces by default).
        builder.for_(DEPLOYMENTS, predicates=[any_of(GenerationChanged(), LabelsChanged())])

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        deployment = await ctx.cache.get(DEPLOYMENTS, key.name, key.namespace)
        if deployment is None:
            return None  # deleted: nothing to do
        bad = disallowed(deployment.get("spec") or {}, self.registries)
        want = "true" if bad else None
        if deployment.labels.get(LABEL) == want:
            return None  # already labelled as it should be
        # A merge patch of one label: it never overwrites anyone else's changes.
        await ctx.client.patch(
            DEPLOYMENTS, key.name, {"metadata": {"labels": {LABEL: want}}}, key.namespace
        )
        # --8<-- [start:events]
        if bad:
            ctx.log.info("%s: images from registries that are not allowed: %s", key,
                         ", ".join(bad))
            ctx.events.warning(deployment, "DisallowedRegistry",
                               f"images from registries that are not allowed: {', '.join(bad)}")
        else:
            ctx.events.normal(deployment, "ImagesAllowed",
                              "every image is from an allowed registry")
        # --8<-- [end:events]
        return None
# --8<-- [end:controller]


# --8<-- [start:factory]
def controllers() -> list[Controller]:
    """What ``kcs run image_policy:controllers`` runs: the policy, with its registries from the
    environment."""
    return [ImagePolicy(registries_from_env())]
# --8<-- [end:factory]
