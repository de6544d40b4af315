"""The watch benchmark's workloads and static server: what they promise, at a tiny size.

The server is read over a raw socket so that the HTTP chunks themselves are visible: the
benchmark's claim is one event per chunk, as kube-apiserver writes them.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from benchmarks._watchclients import arm, info, post
from benchmarks._workload import INDEXED_LABEL, events, initial_pods
from benchmarks.watch import Server

PODS, EVENTS = 60, 400


def _stream(workload: str) -> list[Any]:
    return list(events(workload, initial_pods(PODS, 0), EVENTS, 0))


def test_the_streams_are_deterministic() -> None:
    for workload in ("bump", "realistic"):
        assert [e.line for e in _stream(workload)] == [e.line for e in _stream(workload)]
    assert _stream("bump")[0].line != _stream("realistic")[0].line


def test_bump_changes_only_resource_versions() -> None:
    before = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p
              for p in initial_pods(PODS, 0)}
    for i, e in enumerate(_stream("bump")):
        assert e.type == "MODIFIED"
        obj = orjson.loads(e.line)["object"]
        assert obj["metadata"].pop("resourceVersion") == str(PODS + 1 + i)
        expected = json.loads(json.dumps(before[e.key]))
        expected["metadata"].pop("resourceVersion")
        assert obj == expected


def test_realistic_changes_status_labels_and_membership_in_the_stated_shares() -> None:
    state = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p
             for p in json.loads(json.dumps(initial_pods(PODS, 0)))}
    labels = adds = deletes = 0
    for e in _stream("realistic"):
        obj = orjson.loads(e.line)["object"]
        if e.type == "ADDED":
            assert e.key not in state
            adds += 1
        elif e.type == "DELETED":
            assert e.key in state
            deletes += 1
            del state[e.key]
            continue
        else:
            old = state[e.key]
            assert obj["status"] != old["status"], "every modification changes status"
            if obj["metadata"]["labels"] != old["metadata"]["labels"]:
                changed = {k for k, v in obj["metadata"]["labels"].items()
                           if old["metadata"]["labels"].get(k) != v}
                assert changed == {INDEXED_LABEL}
                labels += 1
        state[e.key] = obj
    assert 0.05 <= labels / EVENTS <= 0.16
    assert 0.02 <= (adds + deletes) / EVENTS <= 0.09
    assert adds and deletes


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server("realistic", PODS, EVENTS)
    yield srv
    srv.close()


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    assert parts.hostname == "127.0.0.1"
    return sock


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(marker)
        return head

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def chunk(self) -> bytes:
        size = int(self.until(b"\r\n"), 16)
        data = self.exactly(size)
        assert self.exactly(2) == b"\r\n"
        return data


def _watch(url: str, rv: int | str) -> tuple[socket.socket, _Reader]:
    sock = _connect(url)
    sock.sendall(f"GET /api/v1/pods?watch=true&resourceVersion={rv} HTTP/1.1\r\n"
                 f"Host: x\r\n\r\n".encode())
    reader = _Reader(sock)
    head = reader.until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Transfer-Encoding: chunked" in head
    return sock, reader


def test_every_event_is_its_own_chunk_and_the_gate_holds_them(server: Server) -> None:
    base = info(server.url, "/_bench/info")["base"]
    arm(server.url, 50)
    sock, reader = _watch(server.url, base)
    with sock:
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):  # armed: nothing before the gate opens
            reader.chunk()
        sock.settimeout(10)
        post(server.url, "/_bench/go")
        chunks = [reader.chunk() for _ in range(50)]
        for i, data in enumerate(chunks):
            assert data.endswith(b"\n") and data.count(b"\n") == 1
            event = orjson.loads(data)
            assert event["object"]["metadata"]["resourceVersion"] == str(base + 1 + i)
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):  # the armed limit: 50 events, then silence
            reader.chunk()


def test_a_watch_from_before_the_list_is_gone(server: Server) -> None:
    base = info(server.url, "/_bench/info")["base"]
    sock, reader = _watch(server.url, base - 1)
    with sock:
        event = orjson.loads(reader.chunk())
    assert event["type"] == "ERROR" and event["object"]["code"] == 410


def test_the_list_pages_cover_the_initial_state(server: Server) -> None:
    import urllib.request

    names, cont = [], ""
    while True:
        url = f"{server.url}/api/v1/pods?limit=25" + (f"&continue={cont}" if cont else "")
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["metadata"]["resourceVersion"] == str(PODS)
        names += [p["metadata"]["name"] for p in body["items"]]
        cont = body["metadata"].get("continue", "")
        if not cont:
            break
    assert len(names) == len(set(names)) == PODS
    expect = info(server.url, f"/_bench/expect?events={EVENTS}")
    assert expect["objects"] == PODS + sum(
        1 if e.type == "ADDED" else -1 if e.type == "DELETED" else 0
        for e in _stream("realistic"))
