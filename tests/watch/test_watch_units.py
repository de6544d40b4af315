"""The watcher's pure parts: backoff arithmetic and the stream decoder, fed lines directly."""

from __future__ import annotations

import pytest
from watch_wire import added, bookmark, deleted, error_event, line, modified, pod, summary

from kcs.core import codec_for
from kcs.watch import Backoff, InitApply, InitDone, InitStart, WatchStats
from kcs.watch._backoff import BackoffState
from kcs.watch._report import Reporter
from kcs.watch._stream import Interruption, StreamDecoder

pytestmark = pytest.mark.timeout(10)

CODEC = codec_for("Pod")


def decoder(rv: str = "10", *, initial: bool = False) -> tuple[StreamDecoder, WatchStats]:
    stats = WatchStats()
    return StreamDecoder(CODEC, Reporter(stats, "pods"), rv, initial_events=initial), stats


def test_backoff_doubles_to_the_maximum_with_jitter_below() -> None:
    b = Backoff(initial=0.8, maximum=30.0, factor=2.0, jitter=0.5)
    no_jitter = [b.delay(n, rand=0.0) for n in range(8)]
    assert no_jitter == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    assert b.delay(3, rand=1.0) == pytest.approx(3.2)  # at most half is taken off
    assert all(3.2 <= b.delay(3) <= 6.4 for _ in range(100))
    assert b.delay(10_000, rand=0.0) == 30.0  # no overflow


def test_backoff_state_counts_and_resets() -> None:
    state = BackoffState(Backoff(initial=1.0, jitter=0.0))
    assert [state.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]
    state.reset()
    assert state.next_delay() == 1.0


@pytest.mark.parametrize("kw", [{"jitter": 2.0}, {"factor": 0.5}, {"initial": -1.0}])
def test_backoff_rejects_nonsense(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kw)


def test_decoder_applies_deletes_and_bookmarks_advance_rv() -> None:
    d, stats = decoder()
    events = d.feed([modified("a", 11), deleted("b", 12), bookmark(20)])
    assert [summary(e) for e in events] == [
        ("Apply", "a@11"),
        ("Delete", "b@12"),
        ("Bookmark", "20"),
    ]
    assert d.resource_version == "20"
    assert d.interruption is None
    assert (stats.events, stats.bookmarks) == (2, 1)


def test_decoder_stops_at_a_malformed_line_keeping_what_came_before() -> None:
    d, stats = decoder()
    events = d.feed([modified("a", 11), b"not json", modified("a", 12)])
    assert [summary(e) for e in events] == [("Apply", "a@11")]
    assert d.interruption is Interruption.MALFORMED
    assert d.resource_version == "11"
    assert stats.errors == {"malformed": 1}


def test_decoder_skips_blank_lines_and_unknown_types() -> None:
    d, stats = decoder()
    events = d.feed([b"  ", line("WHATEVER", pod("x", 11)), modified("a", 12)])
    assert [summary(e) for e in events] == [("Apply", "a@12")]
    assert d.interruption is None
    assert stats.errors == {"unknown_type": 1}


@pytest.mark.parametrize(
    "code,interruption,kind",
    [(410, Interruption.GONE, "gone"), (500, Interruption.ERROR_EVENT, "error_event")],
)
def test_decoder_error_events(code: int, interruption: Interruption, kind: str) -> None:
    d, stats = decoder()
    events = d.feed([modified("a", 11), error_event(code, "X"), modified("a", 12)])
    assert [summary(e) for e in events] == [("Apply", "a@11")]
    assert d.interruption is interruption
    assert d.error is not None and d.error.fields()["code"] == code
    assert stats.errors == {kind: 1}
    assert d.resource_version == "11"


def test_decoder_streaming_list_until_the_end_bookmark() -> None:
    d, stats = decoder("", initial=True)
    first = d.feed([added("a", 3), added("b", 4)])  # delivered as they arrive
    assert [summary(e) for e in first] == [("InitStart", ""), ("InitApply", "a@3"),
                                           ("InitApply", "b@4")]
    assert (d.initializing, d.resource_version) == (True, "")  # a tuple: no narrowing
    rest = d.feed([added("c", 5), bookmark(9, initial_end=True), modified("a", 10)])
    assert [summary(e) for e in rest] == [
        ("InitApply", "c@5"),
        ("InitDone", "9"),
        ("Apply", "a@10"),
    ]
    assert isinstance(rest[1], InitDone)
    assert not d.initializing and d.resource_version == "10"
    assert stats.events == 4


def test_decoder_empty_streaming_list() -> None:
    d, _ = decoder("", initial=True)
    events = d.feed([bookmark(9, initial_end=True)])
    assert [summary(e) for e in events] == [("InitStart", ""), ("InitDone", "9")]


def test_decoder_folds_changes_during_initial_events_into_the_initial_state() -> None:
    # kube-apiserver 1.27-1.29 may send changes before the initial-events-end bookmark.
    # Delivered as they come until a key comes again; from then on folded by key, and the
    # whole state follows a new InitStart (which drops the partial list) at the end.
    d, _ = decoder("", initial=True)
    events = d.feed(
        [added("a", 3), added("b", 4), modified("a", 6), deleted("b", 7), added("c", 8),
         bookmark(9, initial_end=True)]
    )
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitApply", "a@3"),
        ("InitApply", "b@4"),
        ("InitStart", ""),
        ("InitApply", "a@6"),
        ("InitApply", "c@8"),
        ("InitDone", "9"),
    ]
    # the state a consumer keeps (drop at InitStart, last wins) is the folded one
    state: dict[str, str] = {}
    for e in events:
        if isinstance(e, InitStart):
            state = {}
        elif isinstance(e, InitApply):
            state[e.obj.key] = e.obj.resource_version
    assert state == {"default/a": "6", "default/c": "8"}


def test_decoder_folds_an_added_key_that_comes_again() -> None:
    # The inlined path of the common initial event (ADDED of a new key) notices a key it
    # already delivered, in the same batch or a later one, and folds from there on: the
    # key is delivered once, with its last state, and nothing after the fold is delivered
    # before the end bookmark.
    for batches in (
        [[added("a", 3), added("b", 4), added("a", 6), added("c", 7),
          bookmark(9, initial_end=True)]],
        [[added("a", 3), added("b", 4)], [added("a", 6)], [added("c", 7)],
         [bookmark(9, initial_end=True)]],
    ):
        d, stats = decoder("", initial=True)
        events = [e for batch in batches for e in d.feed(batch)]
        assert [summary(e) for e in events] == [
            ("InitStart", ""),
            ("InitApply", "a@3"),
            ("InitApply", "b@4"),
            ("InitStart", ""),
            ("InitApply", "a@6"),
            ("InitApply", "b@4"),
            ("InitApply", "c@7"),
            ("InitDone", "9"),
        ]
        assert stats.events == 5


def test_decoder_keeps_the_body_spans_of_the_initial_events_through_a_fold() -> None:
    # What the store needs to skip decoding an unchanged indexed field: the spans of every
    # object, delivered as they come and again after a fold, are those of its own body.
    lines = [added("a", 3), added("b", 4), modified("a", 6), bookmark(9, initial_end=True)]
    d, _ = decoder("", initial=True)
    applies = [e for e in d.feed(lines) if isinstance(e, InitApply)]
    assert [summary(e) for e in applies] == [
        ("InitApply", "a@3"), ("InitApply", "b@4"), ("InitApply", "a@6"), ("InitApply", "b@4")]
    for e in applies:
        _, obj, spans = CODEC.decode_watch_event_spans(
            {"a@3": lines[0], "b@4": lines[1], "a@6": lines[2]}[summary(e)[1]])
        assert e.obj == obj and spans is not None and e.spans == spans
        assert e.spans.segment("spec") is not None


def test_decoder_drops_an_unreadable_initial_object_and_goes_on() -> None:
    d, stats = decoder("", initial=True)
    events = d.feed([added("a", 3), added("", 4), added("b", 5), bookmark(9, initial_end=True)])
    assert [summary(e) for e in events] == [
        ("InitStart", ""), ("InitApply", "a@3"), ("InitApply", "b@5"), ("InitDone", "9")]
    assert stats.rejected == 1 and stats.events == 2


def test_decoder_a_delete_of_a_key_never_sent_changes_nothing() -> None:
    d, _ = decoder("", initial=True)
    events = d.feed([added("a", 3), deleted("zz", 4), added("b", 5),
                     bookmark(9, initial_end=True)])
    assert [summary(e) for e in events] == [
        ("InitStart", ""), ("InitApply", "a@3"), ("InitApply", "b@5"), ("InitDone", "9")]


def test_decoder_detects_a_server_that_ignored_send_initial_events() -> None:
    d, _ = decoder("", initial=True)
    events = d.feed([added("a", 3), bookmark(11), modified("a", 12)])
    # a partial list, which the paginated list's InitStart drops; nothing after the bookmark
    assert [summary(e) for e in events] == [("InitStart", ""), ("InitApply", "a@3")]
    assert d.interruption is Interruption.NOT_STREAMING
