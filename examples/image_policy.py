"""Image policy: label Deployments whose images come from a disallowed registry.

A minimal kcs controller. For every Deployment it reads the images of the pod template
(from the informer's cache), and if any comes from a registry that is not allowed it sets
the label ``image-policy.kcs.dev/violation=true`` and records a Warning Event on the
Deployment; once the images are fixed it removes the label again.

Run it against an in-process fake apiserver (no cluster needed)::

    python examples/image_policy.py --demo

or against a real cluster, with the RBAC of ``examples/rbac/`` (or your own credentials)::

    python examples/image_policy.py --allow registry.k8s.io --allow ghcr.io/acme \
        [--kubeconfig PATH] [--context NAME] [--namespace NS]

It runs until interrupted (Ctrl-C). It does not use leader election: run one replica,
or run it under the kcs manager for high availability.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import anyio

from kcs.client import Client
from kcs.controller import (
    Builder,
    Context,
    Controller,
    GenerationChanged,
    LabelsChanged,
    Result,
    Runner,
    any_of,
)
from kcs.core import ObjectKey, builtin
from kcs.informer import InformerFactory

DEPLOYMENTS = builtin("deployments.apps")
LABEL = "image-policy.kcs.dev/violation"


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
    """Whether ``image`` comes from one of ``registries`` (prefixes such as
    ``registry.k8s.io`` or ``ghcr.io/acme``)."""
    path = registry_path(image)
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in registries)


def images(deployment: dict[str, Any]) -> list[str]:
    """The images of a Deployment's pod template (containers and init containers)."""
    pod = ((deployment.get("template") or {}).get("spec")) or {}
    containers = [*(pod.get("initContainers") or ()), *(pod.get("containers") or ())]
    return [c["image"] for c in containers if c.get("image")]


class ImagePolicy(Controller):
    """Labels Deployments that use images from registries not in ``registries``."""

    name = "image-policy"
    max_concurrent_reconciles = 4

    def __init__(self, *, registries: Sequence[str], namespace: str | None = None) -> None:
        self.registries = tuple(registries)
        self.namespace = namespace

    def setup(self, builder: Builder) -> None:
        # Wake up for spec changes (new images) and label changes (someone removed ours).
        builder.for_(
            DEPLOYMENTS,
            namespace=self.namespace,
            predicates=[any_of(GenerationChanged(), LabelsChanged())],
        )

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        deployment = await ctx.cache.get(DEPLOYMENTS, key.name, key.namespace)
        if deployment is None:
            return None  # deleted: nothing to do
        bad = [i for i in images(deployment.get("spec") or {}) if not allowed(i, self.registries)]
        want = "true" if bad else None
        if deployment.labels.get(LABEL) == want:
            return None
        await ctx.client.patch(
            DEPLOYMENTS, key.name, {"metadata": {"labels": {LABEL: want}}}, key.namespace
        )
        if bad:
            ctx.events.warning(
                deployment,
                "DisallowedRegistry",
                f"images from registries that are not allowed: {', '.join(sorted(set(bad)))}",
            )
        else:
            ctx.events.normal(
                deployment, "ImagesAllowed", "every image is from an allowed registry"
            )
        return None


# -- running it ---------------------------------------------------------------------------


async def run(informers: InformerFactory, runner: Runner) -> None:
    """Run the informers and the controller until cancelled."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(informers.run)
        tg.start_soon(runner.run)


def _deployment(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


async def demo() -> None:
    """Run against an in-process fake apiserver and show what the controller does."""
    from kcs.testing import FakeApiServer  # only the demo needs the fake apiserver

    registries = ["registry.k8s.io", "ghcr.io/acme"]

    async def until(condition: Callable[[], bool]) -> None:
        """Poll ``condition`` (what a cluster's state is has no event to await here)."""
        with anyio.fail_after(10):
            while True:
                if condition():
                    return
                await anyio.sleep(0.02)

    def labels(api: FakeApiServer) -> dict[str, str | None]:
        return {
            d["metadata"]["name"]: (d["metadata"].get("labels") or {}).get(LABEL)
            for d in api.list(DEPLOYMENTS, "default")
        }

    def show(api: FakeApiServer) -> None:
        for d in api.list(DEPLOYMENTS, "default"):
            label = (d["metadata"].get("labels") or {}).get(LABEL, "-")
            print(f"  deployment {d['metadata']['name']:<8} violation={label}")
        for e in api.list(builtin("Event", "v1"), "default"):
            print(f"  event {e['type']:<7} {e['reason']:<18} {e['involvedObject']['name']:<8}"
                  f" x{e['count']}: {e['message']}")

    async with FakeApiServer() as api, Client.from_url(api.url) as client:
        print(f"fake apiserver at {api.url}; allowed registries: {', '.join(registries)}")
        api.create(DEPLOYMENTS, _deployment("web", "registry.k8s.io/pause:3.9"))
        api.create(DEPLOYMENTS, _deployment("api", "ghcr.io/acme/api:1.2"))
        api.create(DEPLOYMENTS, _deployment("legacy", "nginx:1.25"))
        informers = InformerFactory(client)
        controller = ImagePolicy(registries=registries, namespace="default")
        runner = Runner(controller, client, informers)
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, informers, runner)
            await until(lambda: labels(api) == {"web": None, "api": None, "legacy": "true"})
            await until(lambda: runner.events.stats.recorded == 1)
            await runner.events.flush(timeout=10)
            print("after the first reconciles:")
            show(api)

            api.patch(DEPLOYMENTS, "legacy", {"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "ghcr.io/acme/nginx:1.25"}]}}}}, namespace="default")
            await until(lambda: labels(api) == {"web": None, "api": None, "legacy": None})
            # Events are written in the background: wait until both are out.
            await until(lambda: runner.events.stats.recorded == 2)
            await runner.events.flush(timeout=10)
            print("after moving legacy to an allowed registry:")
            show(api)
            tg.cancel_scope.cancel()


async def cluster(args: argparse.Namespace) -> None:
    """Run against the cluster of the kubeconfig (or in-cluster) until interrupted."""
    if args.kubeconfig or args.context:
        client = await Client.from_kubeconfig(args.kubeconfig, args.context)
    else:
        client = await Client.auto()
    async with client:
        logging.info("watching Deployments on %s; allowed: %s", client.server, args.allow)
        informers = InformerFactory(client)
        controller = ImagePolicy(registries=args.allow, namespace=args.namespace)
        await run(informers, Runner(controller, client, informers))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="run against a fake apiserver")
    parser.add_argument("--allow", action="append", default=[], metavar="REGISTRY",
                        help="an allowed registry prefix (repeatable)")
    parser.add_argument("--kubeconfig", help="path of the kubeconfig (default: $KUBECONFIG)")
    parser.add_argument("--context", help="the kubeconfig context to use")
    parser.add_argument("--namespace", help="watch one namespace only (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.demo:
        logging.getLogger().setLevel(logging.WARNING)
        anyio.run(demo)
        return 0
    if not args.allow:
        parser.error("give at least one --allow REGISTRY (or --demo)")
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(cluster, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
