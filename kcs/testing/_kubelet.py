"""The node agent: the kubelets that confirm the graceful deletion of their pods.

In a cluster a pod deleted with a grace period stays (``Terminating``) until the kubelet of
its node has stopped its containers and deletes it for good, with a grace period of 0 and
its uid as precondition. The node agent plays every kubelet of every node a pod names
(whether a Node object exists or not), and tests say how their containers stop:

===============  ==================================================================================
``immediate``    (the default) the containers stop at once: the pod goes soon after its
                 ``deletionTimestamp`` was set (one MODIFIED, then the DELETED)
``delay``        they take ``seconds`` (at most the grace period: the kubelet kills them then)
``grace``        they ignore SIGTERM: the pod goes when its grace period ends
``never``        the node is gone: the pod stays ``Terminating`` until :meth:`NodeAgent.confirm`
                 or a delete with grace period 0
===============  ==================================================================================

The mode can be set for all nodes or per node. Pods with finalizers stay after the
confirmation until their finalizers are removed, as in a cluster. The kubelet's own status
writes while it stops containers (container states, the terminal phase) are not emulated:
the pod goes from its ``deletionTimestamp`` to its deletion.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kcs.core import Conflict, NotFound
from kcs.testing._cluster import Controller, component_client
from kcs.testing._store import WatchEvent

if TYPE_CHECKING:
    from kcs.testing._verbs import Verbs

__all__ = ["NodeAgent", "NodeAgentMode", "NodeMode"]

CLIENT = component_client("kubelet")
NodeAgentMode = Literal["immediate", "delay", "grace", "never"]
_MODES = ("immediate", "delay", "grace", "never")


@dataclass(frozen=True, slots=True)
class NodeMode:
    """How the containers of a node's pods stop (see the module doc)."""

    mode: NodeAgentMode = "immediate"
    seconds: float = 0.0


class NodeAgent(Controller):
    """See the module doc. Keys are ``namespace/name`` of pods."""

    name = "node-agent"
    resources = frozenset({"pods"})

    def __init__(self, verbs: Verbs) -> None:
        super().__init__(verbs)
        self.default = NodeMode()
        self.nodes: dict[str, NodeMode] = {}
        self._terminating: dict[str, str] = {}  # pod key -> node, awaiting confirmation
        self._started: dict[str, float] = {}  # pod key -> when its containers began to stop

    # --- configuration ----------------------------------------------------------------------

    def set_mode(self, mode: NodeAgentMode, *, seconds: float = 0.0,
                 node: str | None = None) -> None:
        """How containers stop, on ``node`` or (``None``) on every node without its own mode.

        ``delay`` needs ``seconds`` (>= 0). Pods already terminating follow the new mode.
        """
        if mode not in _MODES:
            raise ValueError(f"unknown node agent mode {mode!r}; the modes are {list(_MODES)}")
        if mode == "delay" and seconds < 0:
            raise ValueError("seconds must be >= 0")
        m = NodeMode(mode, float(seconds))
        if node is None:
            self.default = m
        else:
            self.nodes[node] = m
        for key in list(self._terminating):
            self.queue(key)

    def mode_of(self, node: str) -> NodeMode:
        """The mode in force on ``node``."""
        return self.nodes.get(node, self.default)

    def terminating(self) -> list[str]:
        """The pods (``namespace/name``) deleted gracefully and not yet confirmed."""
        return sorted(self._terminating)

    def confirm(self, namespace: str, name: str) -> bool:
        """Confirm a terminating pod now, whatever the mode (its containers stopped);
        whether there was such a pod."""
        key = f"{namespace}/{name}"
        if key not in self._terminating:
            return False
        self._confirm(key)
        return True

    # --- controller -------------------------------------------------------------------------

    def observe(self, group_resource: str, ev: WatchEvent) -> None:
        if group_resource != "pods":
            return
        if ev.type == "DELETED":
            self._terminating.pop(ev.key, None)
            return
        meta = ev.obj.obj.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            return
        node = (ev.obj.obj.get("spec") or {}).get("nodeName")
        grace = meta.get("deletionGracePeriodSeconds")
        if not node or not isinstance(grace, int) or grace <= 0:
            self._terminating.pop(ev.key, None)
            return
        if ev.key not in self._terminating:
            self._terminating[ev.key] = str(node)
            self.queue(ev.key)

    def handle(self, key: Any) -> None:
        key = str(key)
        node = self._terminating.get(key)
        if node is None:
            return
        pod = self._pod(key)
        if pod is None:
            self._terminating.pop(key, None)
            return
        m = self.mode_of(node)
        if m.mode == "never":
            return
        if m.mode == "immediate":
            self._confirm(key)
            return
        # The kubelet times the grace period from when it saw the deletion (the timestamp
        # has only seconds); a shortened grace period counts from then too.
        grace = (pod.get("metadata") or {}).get("deletionGracePeriodSeconds") or 0
        wait = float(grace) if m.mode == "grace" else min(m.seconds, float(grace))
        started = self._started.setdefault(key, time.monotonic())
        due = started + wait
        if time.monotonic() >= due:
            self._confirm(key)
        else:
            self.queue_at(due, key)

    def _pod(self, key: str) -> dict[str, Any] | None:
        served = self.verbs.registry.lookup("", "v1", "pods")
        if served is None:
            return None
        so = self.verbs.rs(served).get(key)
        return None if so is None else so.obj

    def _confirm(self, key: str) -> None:
        pod = self._pod(key)
        self._terminating.pop(key, None)
        self._started.pop(key, None)
        if pod is None:
            return
        served = self.verbs.registry.lookup("", "v1", "pods")
        assert served is not None
        meta = pod.get("metadata") or {}
        with contextlib.suppress(NotFound, Conflict):
            self.verbs.delete(served, str(meta.get("namespace")), str(meta.get("name")), {
                "gracePeriodSeconds": 0, "preconditions": {"uid": meta.get("uid")}}, CLIENT)

    def nodes_with_modes(self) -> Iterable[tuple[str, NodeMode]]:
        """The per-node modes."""
        return sorted(self.nodes.items())
