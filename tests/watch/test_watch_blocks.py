"""The stream decoder fed whole blocks of lines reads exactly what it reads line by line."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from watch_wire import bookmark, error_event, line, pod, summary

from kcs.core import codec_for
from kcs.watch import Event, WatchStats
from kcs.watch._report import Reporter
from kcs.watch._stream import StreamDecoder, split_lines

pytestmark = pytest.mark.timeout(60)

CODEC = codec_for("Pod")


def decoder(initial: bool) -> tuple[StreamDecoder, WatchStats]:
    stats = WatchStats()
    rv = "" if initial else "1"
    return StreamDecoder(CODEC, Reporter(stats, "pods"), rv, initial_events=initial), stats


def strip(data: bytes) -> bytes:
    return data.rstrip(b"\n")


def vocabulary(i: int, kind: str) -> bytes:
    """Line ``i`` of a stream (rv ``i + 2``), of the given kind."""
    rv, name = i + 2, f"p{i % 5}"  # few names: keys come again, the initial events fold
    match kind:
        case "ADDED" | "MODIFIED" | "DELETED":
            return strip(line(kind, pod(name, rv)))
        case "bookmark":
            return strip(bookmark(rv))
        case "end":
            return strip(bookmark(rv, initial_end=True))
        case "error":
            return strip(error_event(500, "InternalError"))
        case "gone":
            return strip(error_event(410, "Expired"))
        case "malformed":
            return b'{"type":"ADDED","object":{"metadata":'
        case "blank":
            return b"  "
        case "unknown":
            return strip(line("WHATEVER", pod(name, rv)))
        case "extra_field":  # a top-level field the pod codec does not decode in one pass
            return strip(line("MODIFIED", {**pod(name, rv), "extra": {"x": 1}}))
        case "no_name":  # dropped and reported
            obj = pod(name, rv)
            obj["metadata"]["name"] = ""
            return strip(line("ADDED", obj))
        case "together":  # two events on one line, no newline between them
            return strip(line("ADDED", pod(name, rv))) + strip(line("MODIFIED", pod(name, rv)))
    raise AssertionError(kind)


KINDS = ["ADDED", "ADDED", "ADDED", "MODIFIED", "DELETED", "bookmark", "end", "error", "gone",
         "malformed", "blank", "unknown", "extra_field", "no_name", "together"]


def outcome(d: StreamDecoder, stats: WatchStats, events: list[Event]) -> object:
    return ([(summary(e), getattr(e, "spans", None)) for e in events], d.resource_version,
            d.interruption, d.initializing, stats.events, stats.bookmarks, stats.rejected,
            dict(stats.errors))


@settings(max_examples=300, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), max_size=30),
    cuts=st.lists(st.integers(0, 30), max_size=8),
    initial=st.booleans(),
)
def test_blocks_read_as_their_lines(kinds: list[str], cuts: list[int], initial: bool) -> None:
    lines = [vocabulary(i, k) for i, k in enumerate(kinds)]
    edges = [0, *sorted({c % (len(lines) + 1) for c in cuts}), len(lines)]
    batches = [lines[a:b] for a, b in itertools.pairwise(edges) if b > a]

    by_line, line_stats = decoder(initial)
    by_block, block_stats = decoder(initial)
    line_events: list[Event] = []
    block_events: list[Event] = []
    for batch in batches:
        line_events += by_line.feed(batch)
        # the batch as one block, or cut in two (the straddling line, then the read's own)
        blocks = [b"\n".join(batch)] if len(batch) < 3 else [batch[0], b"\n".join(batch[1:])]
        block_events += by_block.feed_blocks([memoryview(b) for b in blocks])
        assert by_block.interruption == by_line.interruption
        if by_line.interruption is not None:
            break
    assert outcome(by_block, block_stats, block_events) == outcome(
        by_line, line_stats, line_events)


def test_events_run_together_on_one_line_are_read_as_the_events_they_are() -> None:
    for feed in ("lines", "blocks"):
        d, _ = decoder(initial=False)
        together = vocabulary(0, "together")
        events = d.feed([together]) if feed == "lines" else d.feed_blocks([together])
        assert [summary(e) for e in events] == [("Apply", "p0@2"), ("Apply", "p0@2")]
        assert d.interruption is None


def test_a_block_that_is_a_slice_of_a_read_is_cut_where_its_lines_end() -> None:
    read = b"x\n" + b"\n".join([b"a", b"", b"bc"]) + b"\nrest"
    block = memoryview(read)[2:7]  # "a\n\nbc"
    assert [bytes(v) for v in split_lines(block)] == [b"a", b"", b"bc"]
    assert [bytes(v) for v in split_lines(b"a\n")] == [b"a", b""]
