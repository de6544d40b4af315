"""StaticSite: a custom resource that serves a few files, and the controller that runs it.

For each ``StaticSite`` (``examples.kcs.dev/v1alpha1``, see ``deploy/crd.yaml``) the
controller keeps:

* a ConfigMap ``<site>-files`` holding ``spec.files``, and a Deployment ``<site>-web`` of
  ``spec.replicas`` web servers (``spec.image``) that serve them. Both carry a
  controller ``ownerReference`` to the site, so the garbage collector deletes them with
  it, and a change to either wakes the site's reconcile (``owns``), which puts back
  anything that drifted;
* the site's ``status``: ``observedGeneration``, the Deployment's ``replicas`` and
  ``availableReplicas``, and a ``Ready`` condition saying why it is or is not ready;
* an entry for the site in the site directory, the ConfigMap ``static-sites`` in the
  controller's own namespace that lists every site in the cluster. No ownerReference
  can clean that up (it is shared, and in another namespace), so the site carries the
  finalizer ``examples.kcs.dev/directory``: when it is deleted, the controller removes
  its entry first, then the finalizer, and only then does the apiserver delete it.

Run it with ``kcs run static_site:controllers`` once the CRD is installed. See README.md
next to this file for running it against the fake apiserver, building its image and
deploying it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from kcs.controller import (
    Builder,
    Context,
    Controller,
    GenerationChanged,
    Result,
    apply_finalizer,
    find_condition,
    mutate_status,
    set_condition,
)
from kcs.core import AlreadyExists, Invalid, NotFound, Object, ObjectKey, Resource, builtin
from kcs.manager import Manager

# --8<-- [start:resource]
SITES = Resource(group="examples.kcs.dev", version="v1alpha1", plural="staticsites",
                 kind="StaticSite", namespaced=True, singular="staticsite",
                 short_names=("site",))
CONFIGMAPS = builtin("configmaps")
DEPLOYMENTS = builtin("deployments.apps")

FINALIZER = "examples.kcs.dev/directory"
FILES_HASH = "examples.kcs.dev/files-sha256"
MANAGED = {"app.kubernetes.io/managed-by": "static-site-controller"}
"""The label on everything this controller creates: its informers watch only these."""
DIRECTORY = "static-sites"
DIRECTORY_NAMESPACE_ENV = "STATIC_SITE_DIRECTORY_NAMESPACE"
# --8<-- [end:resource]

DEFAULT_IMAGE = "nginx:1.27"
_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


# -- what the site should look like: pure functions of the site, tested without a cluster ---


# --8<-- [start:spec]
def site_spec(site: Object) -> dict[str, Any]:
    """The site's spec with the CRD's defaults filled in (the apiserver applies them too;
    a spec written before they existed may lack them)."""
    spec = dict(site.get("spec") or {})
    spec.setdefault("files", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("image", DEFAULT_IMAGE)
    return spec


def spec_problem(site: Object) -> str | None:
    """What is wrong with the site's spec that the CRD's schema cannot say, or ``None``."""
    spec = site_spec(site)
    if not spec["files"]:
        return "spec.files is empty: give at least one file (index.html is the home page)"
    bad = sorted(name for name in spec["files"] if not _KEY.match(name))
    if bad:
        return (f"file names may hold only letters, digits, '-', '_' and '.': "
                f"{', '.join(map(repr, bad))}")
    if len(site.name) > 50:
        return "the name is longer than 50 characters: it must fit its pods' label values"
    return None
# --8<-- [end:spec]


# --8<-- [start:owned]
def selector(site: Object) -> dict[str, str]:
    """The labels of the site's pods (and its Deployment's selector)."""
    return {"app.kubernetes.io/name": "static-site", "app.kubernetes.io/instance": site.name}


def owner_reference(site: Object) -> dict[str, Any]:
    """The controller ownerReference every object made for ``site`` carries."""
    return {"apiVersion": SITES.api_version, "kind": SITES.kind, "name": site.name,
            "uid": site.uid, "controller": True}


def files_digest(files: Mapping[str, str]) -> str:
    """A digest of the files, put on the pod template so that a change rolls the pods."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def desired_configmap(site: Object) -> dict[str, Any]:
    """The ConfigMap ``<site>-files`` holding the site's files."""
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": f"{site.name}-files", "namespace": site.namespace,
                     "labels": {**selector(site), **MANAGED},
                     "ownerReferences": [owner_reference(site)]},
        "data": dict(site_spec(site)["files"]),
    }


def desired_deployment(site: Object) -> dict[str, Any]:
    """The Deployment ``<site>-web`` serving the files from the ConfigMap."""
    spec = site_spec(site)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"{site.name}-web", "namespace": site.namespace,
                     "labels": {**selector(site), **MANAGED},
                     "ownerReferences": [owner_reference(site)]},
        "spec": {
            "replicas": spec["replicas"],
            "selector": {"matchLabels": selector(site)},
            "template": {
                "metadata": {"labels": selector(site),
                             "annotations": {FILES_HASH: files_digest(spec["files"])}},
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": spec["image"],
                        "ports": [{"name": "http", "containerPort": 80}],
                        "volumeMounts": [{"name": "files", "readOnly": True,
                                          "mountPath": "/usr/share/nginx/html"}],
                    }],
                    "volumes": [{"name": "files",
                                 "configMap": {"name": f"{site.name}-files"}}],
                },
            },
        },
    }
# --8<-- [end:owned]


# --8<-- [start:drift]
def configmap_patch(current: Object, desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that gives ``current`` the desired labels and data (a removed file
    is a ``null``), or ``None`` when it has them."""
    have: dict[str, str] = current.get("data") or {}
    want: dict[str, str] = desired["data"]
    labels = desired["metadata"]["labels"]
    if have == want and all(current.labels.get(k) == v for k, v in labels.items()):
        return None
    data: dict[str, str | None] = {k: v for k, v in want.items() if have.get(k) != v}
    data.update({k: None for k in have if k not in want})
    return {"metadata": {"labels": labels}, "data": data}


def _managed_fields(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    """What the controller decides in a Deployment spec (the apiserver defaults the rest)."""
    template = spec.get("template") or {}
    pod = template.get("spec") or {}
    web: dict[str, Any] = next(
        (c for c in pod.get("containers") or () if c.get("name") == "web"), {})
    files: dict[str, Any] = next(
        (v for v in pod.get("volumes") or () if v.get("name") == "files"), {})
    return (spec.get("replicas"), web.get("image"),
            (template.get("metadata") or {}).get("annotations", {}).get(FILES_HASH),
            (files.get("configMap") or {}).get("name"),
            [m.get("mountPath") for m in web.get("volumeMounts") or ()])


def deployment_patch(current: Object, desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that puts back what the controller manages in the Deployment
    (replicas, the template), or ``None`` when nothing drifted."""
    want = desired["spec"]
    labels = desired["metadata"]["labels"]
    if (_managed_fields(current.get("spec") or {}) == _managed_fields(want)
            and all(current.labels.get(k) == v for k, v in labels.items())):
        return None
    return {"metadata": {"labels": labels},
            "spec": {"replicas": want["replicas"], "template": want["template"]}}
# --8<-- [end:drift]


# --8<-- [start:ready]
def ready_condition(site: Object, deployment: Object | None) -> tuple[bool, str, str]:
    """``(ready, reason, message)`` of the Ready condition, from the site's Deployment."""
    if deployment is None:
        return False, "Progressing", "the web server's Deployment is being created"
    wanted = site_spec(site)["replicas"]
    status = deployment.get("status") or {}
    if status.get("observedGeneration", 0) < deployment.metadata.generation:
        return False, "Progressing", "the Deployment controller has not seen the change yet"
    available = status.get("availableReplicas", 0)
    if available < wanted:
        return False, "Progressing", f"{available} of {wanted} web servers available"
    return True, "Available", f"{available} of {wanted} web servers available"
# --8<-- [end:ready]


def directory_entry(site: Object) -> tuple[str, str]:
    """The site's key and value in the site directory."""
    spec = site_spec(site)
    value = {"files": sorted(spec["files"]), "image": spec["image"],
             "replicas": spec["replicas"]}
    return f"{site.namespace}.{site.name}", json.dumps(value, sort_keys=True)


# -- the controller -----------------------------------------------------------------------


PatchFor = Callable[[Object, Mapping[str, Any]], dict[str, Any] | None]
"""Computes the patch that puts back what drifted in an owned object (``None``: none)."""


class NameTaken(Exception):
    """An object the site needs exists and belongs to something else."""


# --8<-- [start:setup]
class StaticSites(Controller):
    """Runs every StaticSite: owned ConfigMap and Deployment, status, directory entry."""

    name = "static-site"
    max_concurrent_reconciles = 4

    def __init__(self, directory_namespace: str) -> None:
        if not directory_namespace:
            raise ValueError("the site directory needs a namespace")
        self.directory_namespace = directory_namespace

    def setup(self, builder: Builder) -> None:
        # The sites: spec changes and deletions (generation changes) wake a site; its own
        # status writes do not.
        builder.for_(SITES, predicates=[GenerationChanged()])
        # What the controller creates, read back from the cache. Only objects with its
        # label are watched and cached, not every ConfigMap and Deployment in the
        # cluster; a change to one wakes the site named by its controller ownerReference.
        builder.owns(CONFIGMAPS, label_selector=MANAGED)
        builder.owns(DEPLOYMENTS, label_selector=MANAGED)
# --8<-- [end:setup]

    # --8<-- [start:reconcile]
    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        # --8<-- [start:finalizer]
        site = await ctx.cache.get(SITES, key.name, key.namespace)
        if site is None:
            return None  # gone: its ConfigMap and Deployment go with it (ownerReferences)
        site = await apply_finalizer(ctx.client, SITES, site, FINALIZER,
                                     cleanup=lambda s: self.unlist(ctx, s))
        if site is None:
            return None  # it was being deleted: unlisted, finalizer removed
        # --8<-- [end:finalizer]

        problem = spec_problem(site)
        if problem is not None:
            await self.report(ctx, site, None, (False, "InvalidSpec", problem))
            return None  # not retried: a change to the spec brings the site back
        try:
            await self.ensure(ctx, site, CONFIGMAPS, desired_configmap(site), configmap_patch)
            deployment = await self.ensure(ctx, site, DEPLOYMENTS, desired_deployment(site),
                                           deployment_patch)
        except Invalid as exc:  # the apiserver refused what the spec asks for
            await self.report(ctx, site, None, (False, "InvalidSpec", exc.message))
            return None
        except NameTaken as exc:
            await self.report(ctx, site, None, (False, "NameTaken", str(exc)))
            return Result(requeue_after=30)  # until the other object is gone
        await self.list_in_directory(ctx, site)
        await self.report(ctx, site, deployment, ready_condition(site, deployment))
        return None
    # --8<-- [end:reconcile]

    # --8<-- [start:ensure]
    async def ensure(self, ctx: Context, site: Object, resource: Resource,
                     desired: dict[str, Any], patch_for: PatchFor) -> Object:
        """Create the owned object, or patch what drifted; returns it as it now is."""
        name, namespace = desired["metadata"]["name"], desired["metadata"]["namespace"]
        current = await ctx.cache.get(resource, name, namespace)
        if current is None:
            try:
                created = await ctx.client.create(resource, desired)
            except AlreadyExists:  # there, but without our label: not ours
                raise NameTaken(f"{resource.kind} {namespace}/{name} exists and is not "
                                f"managed by this controller") from None
            ctx.events.normal(site, "Created", f"created {resource.kind} {name}")
            return created
        owner = current.metadata.controller_reference()
        if owner is None or owner.uid != site.uid:
            raise NameTaken(f"{resource.kind} {namespace}/{name} belongs to "
                            f"{owner.kind + ' ' + owner.name if owner else 'nobody'}, "
                            f"not to this StaticSite")
        patch = patch_for(current, desired)
        if patch is None:
            return current
        updated: Object = await ctx.client.patch(resource, name, patch, namespace)
        ctx.events.normal(site, "Updated", f"updated {resource.kind} {name}")
        return updated
    # --8<-- [end:ensure]

    # --8<-- [start:directory]
    async def list_in_directory(self, ctx: Context, site: Object) -> None:
        """Put the site's entry in the directory (created on first use)."""
        key, value = directory_entry(site)
        directory = await ctx.cache.get(CONFIGMAPS, DIRECTORY, self.directory_namespace)
        if directory is not None and (directory.get("data") or {}).get(key) == value:
            return
        # A merge patch of one key: sites reconciled at the same time never overwrite
        # each other's entries, and no resourceVersion is needed.
        patch = {"metadata": {"labels": MANAGED}, "data": {key: value}}
        try:
            await ctx.client.patch(CONFIGMAPS, DIRECTORY, patch, self.directory_namespace)
        except NotFound:
            try:
                await ctx.client.create(CONFIGMAPS, {
                    "metadata": {"name": DIRECTORY, "namespace": self.directory_namespace,
                                 "labels": MANAGED},
                    "data": {key: value}})
            except AlreadyExists:  # another site created it first: patch that one
                await ctx.client.patch(CONFIGMAPS, DIRECTORY, patch, self.directory_namespace)

    async def unlist(self, ctx: Context, site: Object) -> None:
        """The finalizer's cleanup: remove the site's entry from the directory."""
        key, _ = directory_entry(site)
        with contextlib.suppress(NotFound):  # no directory: nothing to remove
            await ctx.client.patch(CONFIGMAPS, DIRECTORY, {"data": {key: None}},
                                   self.directory_namespace)
        ctx.log.info("%s: removed from the site directory", ObjectKey.of(site))
    # --8<-- [end:directory]

    # --8<-- [start:report]
    async def report(self, ctx: Context, site: Object, deployment: Object | None,
                     ready: tuple[bool, str, str]) -> None:
        """Write the status: observedGeneration, replicas and the Ready condition (a
        status that would not change is not written), and record an Event when the
        site becomes ready or fails for a reason other than progress."""
        generation = site.metadata.generation
        of_deployment = (deployment.get("status") or {}) if deployment else {}
        is_ready, reason, message = ready
        before = find_condition((site.get("status") or {}).get("conditions"), "Ready") or {}

        # --8<-- [start:status]
        def mutate(status: dict[str, Any]) -> None:
            status["observedGeneration"] = generation
            status["replicas"] = of_deployment.get("replicas", 0)
            status["availableReplicas"] = of_deployment.get("availableReplicas", 0)
            set_condition(status.setdefault("conditions", []), "Ready", is_ready, reason,
                          message, observed_generation=generation)

        await mutate_status(ctx.client, SITES, site, mutate)
        # --8<-- [end:status]
        if (before.get("status"), before.get("reason")) == (str(is_ready), reason):
            return
        if is_ready:
            ctx.events.normal(site, reason, message)
        elif reason != "Progressing":
            ctx.events.warning(site, reason, message)
    # --8<-- [end:report]


# --8<-- [start:factory]
def controllers(manager: Manager) -> list[Controller]:
    """What ``kcs run static_site:controllers`` runs. The site directory lives in
    ``$STATIC_SITE_DIRECTORY_NAMESPACE`` if set, else in the controller's own namespace:
    ``$POD_NAMESPACE`` (the Deployment sets it from the downward API), else the
    namespace of the client's configuration (the kubeconfig context's, locally)."""
    namespace = (os.environ.get(DIRECTORY_NAMESPACE_ENV) or os.environ.get("POD_NAMESPACE")
                 or manager.client.namespace)
    return [StaticSites(directory_namespace=namespace)]
# --8<-- [end:factory]
