"""The state a long-lived processor keeps between batches is the state DuckDB would give it (issue 13).

`radar process --follow` reads the cross-batch state (dedupe index, event members, clustering
state, alert ids, offsets) once and then brings it up to date from what each commit stored. These
tests run the sample corpus through the real processor in small batches against a real broker and
DuckDB file and compare, after every batch, the kept state with a fresh load at the same as_of;
they also cover the clock moving on (rows leaving the dedupe horizon), a re-sent entry, a failed
batch, and a store whose clustering state is still the one-blob version 1.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from app.pipeline import load_cluster_state
from app.processor import BatchReport, Processor
from infra.config import ProcessorSettings, Settings, StoreSettings
from infra.kafka import close_producer, end_offsets, make_producer
from infra.sink import load_offsets
from infra.store import Store
from schemas.envelope import dump_envelope
from tests.factories import raw_post
from tests.test_cluster_batches import _corpus_in_publish_order, one_partition_topic
from transforms.batch import encode_cluster_state
from transforms.cluster import EventIndex, EventMember, load_event_index
from transforms.dedupe import DedupeIndex, load_dedupe_index

START = datetime(2026, 4, 13, tzinfo=UTC)


@pytest.fixture(scope="module")
def corpus() -> list[Any]:
    return _corpus_in_publish_order()


def _topic(settings: Settings, envelopes: list[Any]) -> Settings:
    return one_partition_topic(settings, envelopes, "state")


def _with(settings: Settings, store: Path, **processor: Any) -> Settings:
    return settings.model_copy(
        update={"store": StoreSettings(path=store, lock_timeout_s=30), "processor": ProcessorSettings(**processor)}
    )


def _dedupe_view(index: DedupeIndex) -> dict[str, Any]:
    return {
        "url": index.by_url,
        "native_id": index.by_native_id,
        "content": index.by_content,
        "item": index.by_item,
        "linked": index.by_linked,
        "roots": index.registered_roots(),
    }


def _events_view(index: EventIndex) -> dict[str, Any]:
    fields = (
        "members",
        "by_event",
        "by_url",
        "by_link",
        "by_product",
        "by_native_id",
        "native_shared",
        "by_reference",
        "first_seen",
        "originals_by_event",
    )
    return {name: getattr(index, name) for name in fields}


def _reloaded(processor: Processor) -> dict[str, Any]:
    """What a processor starting now would read from DuckDB, at the as_of of the last batch."""
    live = processor._live
    assert live is not None, "the processor keeps its state between batches"
    proc = processor.settings.processor
    with processor.store.read() as con:
        cluster_state = load_cluster_state(con)
        return {
            "offsets": load_offsets(con, "processor", processor.settings.kafka.raw_topic),
            "dedupe": _dedupe_view(
                load_dedupe_index(con, proc.dedupe_horizon_days, live.as_of, threshold=proc.near_duplicate_threshold)
            ),
            "events": _events_view(
                load_event_index(con, proc.event_window_days, live.as_of, event_ids=cluster_state.open_events())
            ),
            "clustering": cluster_state.to_json(),
            "alerted": {r[0] for r in con.execute("SELECT alert_id FROM alerts_sent").fetchall()},
        }


def _kept(processor: Processor) -> dict[str, Any]:
    live = processor._live
    assert live is not None
    return {
        "offsets": live.offsets,
        "dedupe": _dedupe_view(live.dedupe_index),
        "events": _events_view(live.event_index),
        "clustering": live.cluster_state.to_json(),
        "alerted": live.alerted,
    }


def _contents(store: Path) -> dict[str, Any]:
    with duckdb.connect(str(store), read_only=True) as con:
        return {
            "items": con.execute(
                "SELECT item_id, title, event_id, duplicate_of, duplicate_kind, dedupe_signature"
                " FROM items ORDER BY item_id"
            ).fetchall(),
            "events": con.execute(
                "SELECT event_id, items, category, verification, signal_score FROM events ORDER BY event_id"
            ).fetchall(),
            "clustering": con.execute("SELECT event_id, seq, event FROM cluster_events ORDER BY seq").fetchall(),
        }


def test_the_kept_state_is_what_duckdb_would_give_after_every_batch(
    settings: Settings, tmp_path: Path, corpus: list[Any]
) -> None:
    # Three entries come again later with new titles (edited entries: their rows are replaced).
    edited = [
        envelope.model_copy(update={"title": f"{envelope.title} (updated)"})
        for envelope in corpus[::37]
        if getattr(envelope, "title", None)
    ]
    run = _with(_topic(settings, corpus + edited), tmp_path / "kept.duckdb", batch_max_records=7, dedupe_horizon_days=2)
    compared: list[int] = []
    with Processor(run, bootstrap=settings.kafka.bootstrap, as_of=START) as processor:

        def check(batch: BatchReport) -> None:
            assert _kept(processor) == _reloaded(processor), f"after batch {len(compared) + 1}"
            compared.append(batch.records)
            # The clock moves half a day a batch: rows leave the two-day dedupe horizon as it goes.
            assert processor.as_of is not None
            processor.as_of += timedelta(hours=12)

        processor.run_once(progress=check)
    assert sum(compared) == len(corpus) + len(edited) and len(compared) >= 12
    assert edited


def test_the_kept_state_stays_out_of_full_collections_until_the_processor_closes(
    settings: Settings, tmp_path: Path, corpus: list[Any]
) -> None:
    run = _with(_topic(settings, corpus[:60]), tmp_path / "frozen.duckdb", batch_max_records=10)
    frozen: list[int] = []
    with Processor(run, bootstrap=settings.kafka.bootstrap, as_of=START + timedelta(days=7)) as processor:
        # After each committed batch the heap (the kept state in it) is frozen: full collections skip it.
        report = processor.run_once(progress=lambda _batch: frozen.append(gc.get_freeze_count()))
    assert len(frozen) == len(report.batches) >= 6
    assert all(count > 0 for count in frozen)
    assert all("gc" in batch.phases for batch in report.batches)
    # Closed, the processor hands every object back to ordinary collection.
    assert gc.get_freeze_count() == 0


def _failing_on_call(real: Callable[..., Any], n: int, message: str) -> Callable[..., Any]:
    """`real`, except that its n-th call raises RuntimeError(message) instead."""
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == n:
            raise RuntimeError(message)
        return real(*args, **kwargs)

    return wrapper


def test_the_batches_of_a_processor_share_one_set_of_beam_workers(
    settings: Settings, tmp_path: Path, corpus: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apache_beam.runners.worker import bundle_processor

    import app.pipeline as pipeline
    import app.read as read
    import transforms.batch as batch_module

    built = 0
    real_init = bundle_processor.BundleProcessor.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal built
        built += 1
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(bundle_processor.BundleProcessor, "__init__", counting_init)
    topic = _topic(settings, corpus[:40])
    kept = _with(topic, tmp_path / "kept.duckdb", batch_max_records=10)
    with Processor(kept, bootstrap=settings.kafka.bootstrap, as_of=START + timedelta(days=7)) as processor:
        report = processor.run_once()
        assert len(report.batches) == 4
        assert built == 1  # one bundle processor (DoFns set up once) for every batch
        runners = [p._runner for p in pipeline._PIPELINES.values() if p._runner is not None]
        assert any(r.workers is not None for r in runners)
    # Closed, the processor tears the kept workers down and closes the consumer their read DoFn held.
    assert all(r.workers is None for r in runners)
    assert not read._CONSUMERS._idle

    # A batch whose bundle fails drops the kept workers; the next run builds them again and
    # stores what a run that never failed stores.
    real_prepare = batch_module.prepare_record
    fail_in_the_second_batch = _failing_on_call(real_prepare, 15, "a DoFn failed inside the bundle")
    failing = _with(topic, tmp_path / "failing.duckdb", batch_max_records=10)
    with Processor(failing, bootstrap=settings.kafka.bootstrap, as_of=START + timedelta(days=7)) as processor:
        monkeypatch.setattr(batch_module, "prepare_record", fail_in_the_second_batch)
        with pytest.raises(Exception, match="a DoFn failed inside the bundle"):
            processor.run_once()
        assert all(r.workers is None for r in runners)
        monkeypatch.setattr(batch_module, "prepare_record", real_prepare)
        built = 0
        processor.run_once()
        assert built == 1
    assert _contents(tmp_path / "failing.duckdb") == _contents(tmp_path / "kept.duckdb")


def _straight_in_nines(settings: Settings, tmp_path: Path, corpus: list[Any], as_of: datetime) -> str:
    """The corpus's topic, after processing it in batches of 9 one after another into straight.duckdb."""
    topic = _topic(settings, corpus)
    with Processor(
        _with(topic, tmp_path / "straight.duckdb", batch_max_records=9), bootstrap=settings.kafka.bootstrap, as_of=as_of
    ) as processor:
        processor.run_once()
    return topic


def test_a_failed_batch_reads_the_state_again_and_changes_nothing(
    settings: Settings, tmp_path: Path, corpus: list[Any]
) -> None:
    import app.pipeline as pipeline

    topic = _straight_in_nines(settings, tmp_path, corpus, START + timedelta(days=7))
    failing = _with(topic, tmp_path / "failing.duckdb", batch_max_records=9)
    real_run_batch = pipeline.run_batch
    calls = 0

    def fail_the_third(*args: Any, **kwargs: Any) -> None:
        # The batch runs (and advances the kept clustering state in place), then fails before its commit.
        nonlocal calls
        calls += 1
        real_run_batch(*args, **kwargs)
        if calls == 3:
            raise RuntimeError("batch failed after its pipeline")

    with Processor(failing, bootstrap=settings.kafka.bootstrap, as_of=START + timedelta(days=7)) as processor:
        pipeline.run_batch = fail_the_third
        try:
            processor.run_once()
        except RuntimeError as exc:
            assert "after its pipeline" in str(exc)
        finally:
            pipeline.run_batch = real_run_batch
        assert calls == 3
        processor.run_once()
    assert _contents(tmp_path / "failing.duckdb") == _contents(tmp_path / "straight.duckdb")


def _follow_until_done(processor: Processor, expected: int) -> list[BatchReport]:
    reports: list[BatchReport] = []
    processor.follow(lambda: sum(b.records for b in reports) >= expected, reports.append)
    return reports


def test_follow_commits_beside_the_next_batch_and_stores_what_run_once_stores(
    settings: Settings, tmp_path: Path, corpus: list[Any]
) -> None:
    """`follow` runs a batch's commit in a thread while the next batch is read and prepared; the next
    decide waits for it. Same DuckDB contents as batches committed one after the other, every batch
    reported once, and the state kept at the end is what DuckDB gives."""
    as_of = START + timedelta(days=7)
    topic = _topic(settings, corpus)
    with Processor(
        _with(topic, tmp_path / "straight.duckdb", batch_max_records=7), bootstrap=settings.kafka.bootstrap, as_of=as_of
    ) as processor:
        straight = processor.run_once()
    with Processor(
        _with(topic, tmp_path / "followed.duckdb", batch_max_records=7), bootstrap=settings.kafka.bootstrap, as_of=as_of
    ) as processor:
        reports = _follow_until_done(processor, len(corpus))
        assert _kept(processor) == _reloaded(processor)
    assert [b.records for b in reports] == [b.records for b in straight.batches]
    assert all({"pipeline", "commit", "advance", "gc"} <= set(b.phases) for b in reports)
    assert _contents(tmp_path / "followed.duckdb") == _contents(tmp_path / "straight.duckdb")


def test_a_commit_that_fails_beside_the_next_batch_fails_follow_and_a_restart_recovers(
    settings: Settings, tmp_path: Path, corpus: list[Any]
) -> None:
    import app.processor as processor_module

    as_of = START + timedelta(days=7)
    topic = _straight_in_nines(settings, tmp_path, corpus, as_of)

    store = tmp_path / "failing.duckdb"
    real_commit = processor_module.commit_batch
    # Inside the third batch's transaction, in the commit thread: nothing of it is stored.
    fail_the_third = _failing_on_call(real_commit, 3, "commit failed in its thread")

    reports: list[BatchReport] = []
    with Processor(
        _with(topic, store, batch_max_records=9), bootstrap=settings.kafka.bootstrap, as_of=as_of
    ) as processor:
        processor_module.commit_batch = fail_the_third
        try:
            with pytest.raises(RuntimeError, match="commit failed in its thread"):
                processor.follow(lambda: False, reports.append)
        finally:
            processor_module.commit_batch = real_commit
        # The two committed batches were reported; the failed one dropped the kept state.
        assert [b.records for b in reports] == [9, 9] and processor._live is None
        assert processor.run_once().records == len(corpus) - 18
    assert _contents(store) == _contents(tmp_path / "straight.duckdb")


def test_a_commit_failing_after_the_state_advanced_sends_nothing_of_the_next_batch(
    settings: Settings, tmp_path: Path, corpus: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next batch is decided as soon as the kept state is up to the batch before it, while that
    batch's transaction is still written; it sends nothing before that transaction committed, and a
    late failure of it drops both."""
    import app.pipeline as pipeline_module
    import app.processor as processor_module

    as_of = START + timedelta(days=7)
    topic = _straight_in_nines(settings, tmp_path, corpus, as_of)

    real_record_alerts = processor_module.record_alerts
    real_decide = pipeline_module.decide_gathered
    commits = advances = decides = 0
    open_window = False  # from the second batch's state advance until its commit failed
    sent_in_window: list[str] = []

    def fail_the_second(*args: Any, **kwargs: Any) -> Any:
        # After commit_batch and the state advance: the third batch (which raises an alert) is
        # decided meanwhile, and must not send it.
        nonlocal commits, open_window
        commits += 1
        if commits == 2:
            time.sleep(1.0)
            open_window = False
            raise RuntimeError("commit failed after the state advanced")
        return real_record_alerts(*args, **kwargs)

    def decide(*args: Any, **kwargs: Any) -> Any:
        nonlocal decides
        decides += 1
        return real_decide(*args, **kwargs)

    store = tmp_path / "failing.duckdb"
    reports: list[BatchReport] = []
    with Processor(
        _with(topic, store, batch_max_records=9), bootstrap=settings.kafka.bootstrap, as_of=as_of
    ) as processor:
        real_send = processor.producer.send
        real_advance = processor._advance_state

        def advance(*args: Any, **kwargs: Any) -> None:
            nonlocal advances, open_window
            real_advance(*args, **kwargs)
            advances += 1
            open_window = advances == 2

        def send(topic_name: str, *args: Any, **kwargs: Any) -> Any:
            if open_window:
                sent_in_window.append(topic_name)
            return real_send(topic_name, *args, **kwargs)

        monkeypatch.setattr(processor.producer, "send", send)
        monkeypatch.setattr(processor, "_advance_state", advance)
        monkeypatch.setattr(processor_module, "record_alerts", fail_the_second)
        monkeypatch.setattr(pipeline_module, "decide_gathered", decide)
        with pytest.raises(RuntimeError, match="commit failed after the state advanced"):
            processor.follow(lambda: False, reports.append)
        monkeypatch.undo()
        # The third batch was decided on the state the second advanced, before the second failed.
        assert decides == 3
        assert sent_in_window == []
        assert [b.records for b in reports] == [9] and processor._live is None
        assert processor.run_once().records == len(corpus) - 9
    assert _contents(store) == _contents(tmp_path / "straight.duckdb")


def test_a_version_1_clustering_state_is_split_into_rows_and_continues(
    settings: Settings, tmp_path: Path, corpus: list[Any]
) -> None:
    half = len(corpus) // 2
    as_of = START + timedelta(days=7)
    topic = _topic(settings, corpus)
    with Processor(
        _with(topic, tmp_path / "straight.duckdb", batch_max_records=20),
        bootstrap=settings.kafka.bootstrap,
        as_of=as_of,
    ) as processor:
        processor.run_once()

    store = tmp_path / "upgraded.duckdb"
    with Processor(
        _with(topic, store, batch_max_records=half), bootstrap=settings.kafka.bootstrap, as_of=as_of
    ) as processor:
        first = processor.run_batch(end_offsets(processor.consumer, processor.tps))
    assert first is not None and first.records == half
    # The store as a processor before migration 009 left it: the whole state in one version-1 blob.
    with Store(store).write() as con:
        blob = encode_cluster_state(load_cluster_state(con))
        con.execute("DELETE FROM cluster_events")
        con.execute("UPDATE cluster_state SET state = ? WHERE id = 1", [blob])
    with Processor(
        _with(topic, store, batch_max_records=20), bootstrap=settings.kafka.bootstrap, as_of=as_of
    ) as processor:
        assert processor.run_once().records == len(corpus) - half
    assert _contents(store) == _contents(tmp_path / "straight.duckdb")


def _insert(
    con: duckdb.DuckDBPyConnection,
    item_id: str,
    url: str,
    published: datetime | None,
    text: str,
    root: str | None = None,
) -> None:
    con.execute(
        "INSERT OR REPLACE INTO items (item_id, kind, source_name, source_kind, tier, publisher, canonical_url,"
        " title, text, published_at, content_hash, duplicate_of, record)"
        " VALUES (?, 'post', 's', 'feed', 'media', 'P', ?, 't', ?, ?, md5(?), ?, ?)",
        [item_id, url, text, published, text, root, json.dumps({"native_id": item_id})],
    )


def test_a_live_dedupe_index_answers_as_a_fresh_load(tmp_path: Path) -> None:
    """Rows arriving out of publish order, a row leaving the horizon, a row replaced: after each, the
    live index holds what `load_dedupe_index` gives (who holds a shared key, which root wins a tie)."""
    store = Store(tmp_path / "dedupe.duckdb")
    t0 = datetime(2026, 4, 20, tzinfo=UTC)
    text = "Open-weight model released with a new licence and weights for download today"
    as_of = t0 + timedelta(days=1)
    with store.write() as con:
        _insert(con, "a", "https://news.example.com/a", t0, text)
        _insert(con, "c", "https://news.example.com/c", t0 + timedelta(hours=1), text + " and more on it")
        live = load_dedupe_index(con, 2, as_of, live=True)

    def fresh(when: datetime) -> dict[str, Any]:
        with store.write() as con:
            return _dedupe_view(load_dedupe_index(con, 2, when))

    assert _dedupe_view(live) == fresh(as_of)
    # Later batch, earlier publish time, the same URL: the key passes to it (first in publish order).
    with store.write() as con:
        _insert(con, "b", "https://news.example.com/a", t0 - timedelta(hours=30), text + ", said the lab", "a")
        live.refresh(con, as_of, ["b"])
    assert live.by_url["https://news.example.com/a"] == "a"
    assert _dedupe_view(live) == fresh(as_of)
    # Clock on by a day: "b" leaves the two-day horizon, "a" holds the URL alone again.
    later = as_of + timedelta(hours=20)
    live.advance(later)
    assert _dedupe_view(live) == fresh(later)
    # "a" re-sent under another URL: its old keys go, the new ones come.
    with store.write() as con:
        _insert(con, "a", "https://news.example.com/a2", t0, text + " (corrected)")
        live.refresh(con, later, ["a"])
    assert "https://news.example.com/a" not in live.by_url
    assert _dedupe_view(live) == fresh(later)
    assert len(live) == len(live.registered_roots())


def _event_member(item_id: str, event_id: str, minute: int, native_id: str | None) -> EventMember:
    return EventMember(
        item_id=item_id,
        event_id=event_id,
        published_at=datetime(2026, 4, 20, 0, minute, tzinfo=UTC),
        kind="post",
        tier="media",
        publisher="P",
        source_name="s",
        source_organisation=None,
        canonical_url=f"https://news.example.com/{item_id}",
        linked_urls=(),
        duplicate_of=None,
        organisations=frozenset(),
        products=frozenset({"gpt5"}),
        product_names=("GPT-5",),
        money=(),
        category=None,
        title=item_id,
        engagement=0,
        native_id=native_id,
    )


def test_replacing_events_gives_the_index_a_fresh_load_gives() -> None:
    """Members sharing a native id across events: the one a fresh load lists first holds it."""
    x1 = _event_member("x1", "ev-1", 5, "x:42")
    x2 = _event_member("x2", "ev-2", 1, "x:42")
    y = _event_member("y", "ev-1", 7, None)
    kept = EventIndex([x1, y])
    # ev-2 arrives later but was published earlier: its member is first in load order.
    kept.replace_events(["ev-2"], [x2])
    assert _events_view(kept) == _events_view(EventIndex([x2, x1, y]))
    assert kept.by_native_id["x:42"] == "x2"
    # ev-2 closes: the native id passes back to x1, and the shared entry goes.
    kept.replace_events(["ev-2"], [])
    assert _events_view(kept) == _events_view(EventIndex([x1, y]))
    # A batch works inside undone(): what it added and re-pointed is taken back.
    before = _events_view(kept.copy())
    with kept.undone():
        kept.add(_event_member("z", "ev-3", 9, "x:42"))
        kept.repoint("ev-1", "ev-3")
        assert kept.event_of("y") == "ev-3"
    assert _events_view(kept) == before


def test_members_that_come_back_unchanged_keep_their_place_and_the_rest_is_a_fresh_load() -> None:
    """A committed batch brings one new member to an open event and moves another member out: the
    index keeps the members it already held (the same objects) and ends as a fresh load of the rows."""
    a1 = _event_member("a1", "ev-1", 1, "x:1")
    a2 = _event_member("a2", "ev-1", 6, "x:2")
    b1 = _event_member("b1", "ev-2", 2, "x:2")
    kept = EventIndex([a1, b1, a2])
    a3 = _event_member("a3", "ev-1", 4, "x:1")  # the batch's new member, published between a1 and a2
    moved = replace(a2, event_id="ev-2")  # a2, edited, now in ev-2
    rows = sorted([a1, a3, b1, moved], key=lambda m: (m.published_at, m.item_id))
    kept.replace_events(["ev-1", "ev-2"], rows)
    assert _events_view(kept) == _events_view(EventIndex(rows))
    assert kept.by_event == {"ev-1": ["a1", "a3"], "ev-2": ["b1", "a2"]}
    assert kept.members["a1"] is a1 and kept.members["a2"] is moved
    assert kept.native_shared == {"x:1": {"a1", "a3"}, "x:2": {"b1", "a2"}}
    # The same batch taken as changes (what the processor does for events it holds whole): the
    # members the batch wrote leave their events, then their rows join at their place in load order.
    deltas = EventIndex([a1, b1, a2])
    deltas.drop_members(["a2", "a3"])
    deltas.add_members(sorted([a3, moved], key=lambda m: (m.published_at, m.item_id)))
    assert _events_view(deltas) == _events_view(EventIndex(rows))
    # The earliest member leaves: the event's first sighting and the shared native id move on.
    deltas.drop_members(["a1"])
    assert _events_view(deltas) == _events_view(EventIndex([a3, b1, moved]))
    assert deltas.first_seen["ev-1"] == a3.published_at and "x:1" not in deltas.native_shared


def test_an_event_opened_again_by_its_founding_item_is_read_back_whole(settings: Settings, tmp_path: Path) -> None:
    """A story's first item comes again after its event closed: the clustering opens the same event id
    again, and the kept index must then hold the event's older members too, as a fresh load does."""
    story = [raw_post(i) for i in range(4)]  # one story, published minutes apart
    when = datetime(2026, 5, 3, tzinfo=UTC)  # three weeks on: past the clustering's two-week window
    far = raw_post(40).model_copy(
        update={"published_at": when, "published": when.strftime("%a, %d %b %Y %H:%M:%S +0000")}
    )
    again = story[0].model_copy(update={"title": f"{story[0].title} (updated)"})
    run = _with(_topic(settings, []), tmp_path / "reopened.duckdb", batch_max_records=100)
    with Processor(run, bootstrap=settings.kafka.bootstrap, as_of=START + timedelta(days=30)) as processor:
        for group in (story, [far], [again]):
            producer = make_producer(settings.kafka.bootstrap, run.kafka)
            for envelope in group:
                producer.send(run.kafka.raw_topic, key=envelope.key.encode(), value=dump_envelope(envelope)).get(30)
            close_producer(producer)
            assert processor.run_once().records == len(group)
            assert _kept(processor) == _reloaded(processor)
        with processor.store.read() as con:
            events = dict(con.execute("SELECT item_id, event_id FROM items").fetchall())
    first = events[story[0].key]
    assert first is not None and events[story[1].key] == first, "the story's event was opened again"
