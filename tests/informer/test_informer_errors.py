"""Failures reach the user: a 404 (CRD not installed) or a 403 (RBAC) makes
wait_synced(timeout) raise naming the cause within the timeout, readiness says why, the
error hooks hear it, the watcher retries slowly and syncs once it is fixed; a handler's
exception appears with the user's own traceback."""

from __future__ import annotations

import logging
import traceback

import anyio
import pytest
from informer_helpers import FAST_BACKOFF, PODS, new_pod, running
from watch_wire import Fail, Hold, Script, WireServer, modified, pod, pod_list

from kcs.client import Client
from kcs.core import Object, Resource
from kcs.informer import (
    FunctionHandler,
    Informer,
    InformerFactory,
    InformerOptions,
    SyncTimeoutError,
)
from kcs.testing import FakeApiServer
from kcs.watch import Backoff, WatchError, WatchErrorKind, WatchOptions

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

WIDGETS = Resource("example.com", "v1", "widgets", "Widget", namespaced=True)
SLOW = Backoff(initial=0.25, maximum=0.25, jitter=0.0)
OPTIONS = InformerOptions(watch=WatchOptions(backoff=FAST_BACKOFF, permanent_error_backoff=SLOW))


async def test_a_missing_crd_is_a_404_that_wait_synced_names(
    api: FakeApiServer, client: Client
) -> None:
    informer = Informer(client, WIDGETS, options=OPTIONS)
    heard: list[WatchError] = []
    informer.add_error_hook(heard.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        started = anyio.current_time()
        with pytest.raises(SyncTimeoutError) as err:
            await informer.wait_synced(1.0)
        assert anyio.current_time() - started < 1.5  # raised when the timeout ran out
        message = str(err.value)
        assert message.startswith(
            "the informer of widgets.example.com in all namespaces did not sync within 1s: "
            "404 Not Found: listing widgets.example.com in all namespaces: the apiserver does "
            "not serve widgets.example.com (example.com/v1); is its CustomResourceDefinition "
            "installed"
        ), message
        assert "failed" in message and "retrying in" in message
        assert isinstance(err.value, TimeoutError) and err.value.resource == WIDGETS
        last = err.value.last_error
        assert last is not None and last.kind is WatchErrorKind.NOT_FOUND and last.permanent
        reason = informer.not_synced_reason
        assert reason is not None and reason.startswith("404 Not Found: listing widgets")
        assert heard and all(e.code == 404 for e in heard)
        assert informer.last_error == heard[-1]
        # Retried slowly: a handful of lists in a second, never a fast loop.
        assert 2 <= len(heard) <= 6
        api.register(WIDGETS)  # the CRD is installed: the next attempt succeeds
        await informer.wait_synced(5)
        assert informer.not_synced_reason is None and informer.not_synced is None
        tg.cancel_scope.cancel()


async def test_forbidden_names_rbac_in_the_error_and_the_readiness_reason(
    wire: WireServer, wire_client: Client
) -> None:
    said = 'pods is forbidden: User "system:serviceaccount:shop:web" cannot list resource "pods"'
    wire.lists = [Fail(403, "Forbidden", message=said) for _ in range(3)]
    factory = InformerFactory(wire_client, options=OPTIONS)
    informer = factory.informer(PODS)
    async with anyio.create_task_group() as tg:
        tg.start_soon(factory.run)
        with pytest.raises(SyncTimeoutError) as err:
            await factory.wait_synced(0.6)
        assert str(err.value).startswith(
            "the informer of pods in all namespaces did not sync within 0.6s: 403 Forbidden: "
            "listing pods in all namespaces is not allowed for this identity (RBAC). The "
            f"apiserver said: {said}"
        )
        (entry,) = err.value.not_synced
        assert entry.last_error is not None and entry.last_error.kind == "forbidden"
        readiness = factory.not_synced_reason
        assert readiness is not None
        assert readiness.startswith("pods in all namespaces: 403 Forbidden: listing pods")
        assert "(RBAC)" in readiness
        stats = informer.watcher.stats if informer.watcher else None
        assert stats is not None and stats.tallies[(WatchErrorKind.FORBIDDEN, 403)].count >= 2
        # RBAC is granted: the next slow retry lists and the informer syncs.
        wire.lists = [pod_list(10, [pod("a", 3)])]
        wire.watches = [Script([modified("a", 11), Hold()])]
        await factory.wait_synced(5)
        assert factory.not_synced_reason is None
        assert informer.lister.get("a", "default") is not None
        tg.cancel_scope.cancel()


async def test_an_informer_that_was_never_started_says_so(client: Client) -> None:
    informer = Informer(client, PODS)
    with pytest.raises(SyncTimeoutError, match=r"not running: nothing called Informer\.run\(\)"):
        await informer.wait_synced(0.05)
    assert informer.last_error is None
    assert informer.not_synced is not None and informer.not_synced.last_error is None


async def test_wait_synced_without_a_timeout_waits_and_says_why_while_it_waits(
    client: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kcs.informer._informer.SYNC_REPORT_INTERVAL", 0.05)
    monkeypatch.setattr("kcs.informer._factory.SYNC_REPORT_INTERVAL", 0.05)
    informer = Informer(client, PODS)
    factory = InformerFactory(client)
    factory.informer(PODS)
    with caplog.at_level(logging.WARNING, logger="kcs.informer"):
        with anyio.move_on_after(0.3):
            await informer.wait_synced()
        with anyio.move_on_after(0.3):
            await factory.wait_synced()
    assert "Informer(pods in all namespaces): not synced after" in caplog.text
    assert "informers not synced after" in caplog.text
    assert caplog.text.count("not running") >= 4  # repeated, never a single warning


async def test_wait_synced_returns_once_synced(api: FakeApiServer, client: Client) -> None:
    api.create("pods", new_pod("p"))
    informer = Informer(client, PODS)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        await informer.wait_synced()  # no timeout: returns when synced
        assert informer.has_synced
        await informer.wait_synced(0)  # synced: returns at once, whatever the timeout
        tg.cancel_scope.cancel()


async def test_error_hooks_can_be_removed_and_cannot_break_the_informer(
    wire: WireServer, wire_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    wire.lists = [Fail(500, "InternalError"), Fail(500, "InternalError"), pod_list(10, [])]
    informer = Informer(wire_client, PODS, options=OPTIONS)
    heard: list[WatchError] = []
    remove = informer.add_error_hook(heard.append)

    def broken(error: WatchError) -> None:
        remove()  # the first error removes the recording hook
        raise RuntimeError("hook bug")

    informer.add_error_hook(broken)
    with caplog.at_level(logging.ERROR, logger="kcs.informer"):
        async with running(informer):
            pass
    assert [e.kind for e in heard] == ["api_error"]  # heard once, then removed
    assert "hook bug" in caplog.text
    assert informer.stats.watch_errors == 2
    assert informer.last_error is not None and informer.last_error.code == 500


async def test_a_handler_exception_appears_with_the_users_traceback(
    api: FakeApiServer, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    api.create("pods", new_pod("p"))
    informer = Informer(client, PODS)

    def explode(obj: Object, is_initial: bool) -> None:
        raise KeyError(f"the user's bug about {obj.name}")

    reg = informer.add_handler(FunctionHandler(on_add=explode))
    with caplog.at_level(logging.ERROR, logger="kcs.informer"):
        async with running(informer):
            assert await reg.wait_idle(5)
    assert reg.errors == 1
    error = reg.last_error
    assert error is not None and error.key == "default/p" and error.method == "on_add"
    assert isinstance(error.exception, KeyError)
    frames = traceback.extract_tb(error.exception.__traceback__)
    assert frames[-1].name == "explode"  # the user's frame, not the dispatcher's
    assert "explode" in reg.name
    (record,) = [r for r in caplog.records if r.name == "kcs.informer"]
    assert record.exc_info is not None and record.exc_info[1] is error.exception
    assert f"event handler {reg.name} raised in on_add(default/p)" in record.getMessage()
    assert "in explode" in caplog.text and "the user's bug about p" in caplog.text


async def test_the_fake_apiservers_rbac_403_names_the_identity_until_a_role_grants_it() -> None:
    async with FakeApiServer(tls=True, authorization="RBAC") as api:
        api.create("serviceaccounts", {"metadata": {"name": "bot", "namespace": "default"}})
        token = api.issue_token("default", "bot")
        assert api.ca_pem is not None
        async with Client.from_url(api.url, token=token, ca_data=api.ca_pem.decode(),
                                   qps=None) as client:
            factory = InformerFactory(client, options=OPTIONS)
            informer = factory.informer(PODS)
            async with anyio.create_task_group() as tg:
                tg.start_soon(factory.run)
                with pytest.raises(SyncTimeoutError) as err:
                    await factory.wait_synced(0.6)
                assert str(err.value).startswith(
                    "the informer of pods in all namespaces did not sync within 0.6s: 403 "
                    "Forbidden: listing pods in all namespaces is not allowed for this "
                    "identity (RBAC). The apiserver said: pods is forbidden: User "
                    '"system:serviceaccount:default:bot" cannot list resource "pods" in API '
                    'group "" at the cluster scope'
                )
                assert token not in str(err.value)
                assert (factory.not_synced_reason or "").startswith(
                    "pods in all namespaces: 403 Forbidden")
                api.create("clusterroles.rbac.authorization.k8s.io", {
                    "metadata": {"name": "pod-reader"},
                    "rules": [{"apiGroups": [""], "resources": ["pods"],
                               "verbs": ["list", "watch"]}]})
                api.create("clusterrolebindings.rbac.authorization.k8s.io", {
                    "metadata": {"name": "bot-reads-pods"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": "pod-reader"},
                    "subjects": [{"kind": "ServiceAccount", "name": "bot",
                                  "namespace": "default"}]})
                await factory.wait_synced(5)  # the next slow retry lists: RBAC was fixed
                assert informer.has_synced and factory.not_synced_reason is None
                tg.cancel_scope.cancel()
