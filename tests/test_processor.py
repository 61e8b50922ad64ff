"""The processor end to end against the real broker and DuckDB: exactly once, poison, crash."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from app.processor import Processor
from infra.config import Settings
from infra.dlq import replay_dead_letters
from infra.kafka import end_offsets, make_consumer, make_producer, partitions_of, read_range
from schemas.dead_letter import DeadLetter
from schemas.envelope import dump_envelope, parse_envelope
from tests import crash_harness
from tests.factories import raw_post

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)


def _produce(settings: Settings, values: list[tuple[bytes, bytes]]) -> list[tuple[int, int]]:
    producer = make_producer(settings.kafka.bootstrap, settings.kafka)
    futures = [producer.send(settings.kafka.raw_topic, key=k, value=v) for k, v in values]
    producer.flush()
    metas = [(f.get(30).partition, f.get(30).offset) for f in futures]
    producer.close()
    return metas


def _dlq(settings: Settings) -> list[DeadLetter]:
    consumer = make_consumer(settings.kafka.bootstrap, settings.kafka)
    try:
        tps = partitions_of(consumer, settings.kafka.dlq_topic)
        ends = end_offsets(consumer, tps)
        return [parse_envelope(r.value) for tp in tps for r in read_range(consumer, tp, 0, ends[tp])]
    finally:
        consumer.close()


def _items(settings: Settings) -> list[tuple[str, int, int]]:
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        return con.execute("SELECT item_id, kafka_partition, kafka_offset FROM items").fetchall()


def test_process_once_lands_each_record_once_and_is_idempotent(settings: Settings) -> None:
    posts = [raw_post(i) for i in range(60)] + [raw_post(i, social=True) for i in range(40)]
    _produce(settings, [(p.key.encode(), dump_envelope(p)) for p in posts])
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        report = processor.run_once()
        assert report.records == 100
        # The line the `process` flow logs (and tests/test_prefect_deployments.py looks for).
        assert report.summary() == (
            f"100 records -> {report.total('items')} items, 0 dead letters, {report.total('alerts')} alerts"
        )
        assert report.total("items") == 100
        assert sum(processor.lag().values()) == 0
        assert processor.run_once().records == 0
    rows = _items(settings)
    assert sorted(r[0] for r in rows) == sorted(p.key for p in posts)
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]
        members = con.execute("SELECT count(DISTINCT item_id) FROM event_items").fetchone()[0]
        signed = con.execute("SELECT count(*) FROM items WHERE dedupe_signature IS NOT NULL").fetchone()[0]
    assert events > 0 and members > 0
    assert signed == len(posts), "dedupe signatures persisted for the next batch's index"


def test_poison_records_go_to_the_dlq_with_coordinates(settings: Settings) -> None:
    good = [raw_post(i) for i in range(30)]
    poison = [
        (b"bad-json", b'{"schema": "raw.post", "version": 1, "key": '),
        (b"unknown-version", json.dumps({"schema": "raw.post", "version": 7, "key": "k"}).encode()),
        (b"huge", b'{"schema": "raw.post", "version": 1, "key": "' + b"x" * (10 * 1024 * 1024) + b'"}'),
        (b"bad-utf8", b'{"schema": "raw.post", "version": 1, "key": "\xff\xfe\xfa"}'),
        (b"not-raw", (Path(__file__).parent / "golden" / "alert.v1.json").read_bytes()),
    ]
    values = (
        [(p.key.encode(), dump_envelope(p)) for p in good[:15]]
        + poison
        + [(p.key.encode(), dump_envelope(p)) for p in good[15:]]
    )
    metas = _produce(settings, values)
    poison_coords = {(metas[15 + i][0], metas[15 + i][1]): key for i, (key, _) in enumerate(poison)}
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        processor.run_once()
        assert sum(processor.lag().values()) == 0
    assert sorted(r[0] for r in _items(settings)) == sorted(p.key for p in good)
    letters = _dlq(settings)
    by_coords = {(d.coordinates.partition, d.coordinates.offset): d for d in letters if d.coordinates}
    assert set(by_coords) == set(poison_coords)
    for coords, key in poison_coords.items():
        letter = by_coords[coords]
        assert letter.stage == "envelope" and letter.reason
        assert letter.coordinates.key == key.decode()
        assert letter.coordinates.topic == settings.kafka.raw_topic
    assert by_coords[next(c for c, k in poison_coords.items() if k == b"huge")].original_size > 10 * 1024 * 1024
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == len(poison)


def test_dlq_replay_resends_the_raw_originals_once(settings: Settings, tmp_path: Path) -> None:
    """`radar dlq replay`: after a fix, a dead letter from the raw topic goes back to it, byte for byte, once."""
    poison = (b"bad-json", b'{"schema": "raw.post", "version": 1, "key": ')
    huge = (b"huge", b'{"schema": "raw.post", "version": 1, "key": "' + b"x" * (10 * 1024 * 1024) + b'"}')
    _produce(settings, [(p.key.encode(), dump_envelope(p)) for p in (raw_post(1), raw_post(2))] + [poison, huge])
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        processor.run_once()
    config = crash_harness.write_config(settings, tmp_path / "radar.toml", batch_max_records=1000, alert_min_score=70)
    listed = subprocess.run(
        [sys.executable, "-m", "app.cli", "--config", str(config), "dlq", "list", "--json"],
        env=crash_harness.child_env(config),
        cwd=crash_harness.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    # Typed fields a script can use (ops review: the JSON copied the table's cells, with no id and
    # times without a zone): the id replay keys on, UTC times, the Kafka coordinates as an object.
    assert [(r["stage"], r["replayed"], r["replayed_at"]) for r in rows] == [("envelope", False, None)] * 2, rows
    for row in rows:
        assert row["dead_letter_id"] and row["occurred_at"].endswith("+00:00"), row
        assert row["kafka"]["topic"] == settings.kafka.raw_topic and isinstance(row["kafka"]["offset"], int), row
    first = replay_dead_letters(settings)
    # The huge one was cut down in the DLQ: replaying it would send other bytes than were produced.
    assert (first.replayed, first.skipped) == (1, 1) and "truncated" in (first.skip_reason or ""), first
    consumer = make_consumer(settings.kafka.bootstrap, settings.kafka)
    try:
        tps = partitions_of(consumer, settings.kafka.raw_topic)
        ends = end_offsets(consumer, tps)
        raw = [(r.key, r.value) for tp in tps for r in read_range(consumer, tp, 0, ends[tp])]
    finally:
        consumer.close()
    assert Counter(raw)[poison] == 2, "the original and its replay, the same bytes and key"
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        marked = con.execute("SELECT count(*) FROM dead_letters WHERE replayed_at IS NOT NULL").fetchone()[0]
    assert marked == 1
    again = replay_dead_letters(settings)
    assert again.replayed == 0, "a replayed dead letter is not sent twice"
    # A row whose record the DLQ topic no longer holds (its retention, a restarted embedded broker):
    # nothing to send, and the command says so rather than reporting a quiet zero.
    with duckdb.connect(str(settings.store.path)) as con:
        con.execute(
            "INSERT INTO dead_letters (dead_letter_id, stage, reason, kafka_topic, kafka_partition, kafka_offset,"
            " original_size, occurred_at) VALUES ('dl-expired', 'envelope', 'bad json', ?, 0, 99, 8, now())",
            [settings.kafka.raw_topic],
        )
    expired = replay_dead_letters(settings)
    assert expired.replayed == 0 and "gone from the DLQ topic" in (expired.skip_reason or ""), expired
    assert "1 listed in the store but gone" in (expired.skip_reason or ""), expired
    assert replay_dead_letters(settings, stage="parse").skip_reason is None, "other stages' rows are not counted"
    # A broker that lost its topics (the embedded one restarted with a new data dir): the DLQ topic is
    # created empty and every listed row is named as lost, rather than "topic has no partitions".
    fresh = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"dlq_topic": f"{settings.kafka.dlq_topic}.restarted"})}
    )
    lost = replay_dead_letters(fresh)
    assert lost.replayed == 0 and "2 listed in the store but gone from the DLQ topic" in (lost.skip_reason or ""), lost


CRASH_RECORDS = 20_000


# 16 processor runs over 20,000 records, beside one uncrashed run of the same records: ~3 min in
# `make test` on 2 cores, several times that when the machine is shared (the suite's 300 s default
# timeout is a hang guard, not a speed limit; so is this one).
@pytest.mark.timeout(1800)
def test_crashes_at_every_phase_lose_and_double_nothing(settings: Settings, tmp_path: Path) -> None:
    """Each processor phase crashed twice (once os._exit, once a real SIGKILL) over 20,000 records."""
    crashes = crash_harness.schedule(rounds=2)
    batch = 1500
    # Every crash must find work left: the ones that die in their 2nd batch commit one batch first.
    assert CRASH_RECORDS // batch > sum(c.count - 1 for c in crashes)
    workload = crash_harness.produce_workload(settings, CRASH_RECORDS, poison_every=97)
    config = crash_harness.write_config(settings, tmp_path / "crash.toml", batch_max_records=batch, alert_min_score=10)
    command = crash_harness.process_command()
    # The same records processed without a crash, into a DuckDB file and topics of its own: it reads
    # only the raw topic, so it runs while the crashes happen. A fresh interpreter, unlike the forked
    # crash children: a result that hung on the process (hash seed, import order) would differ.
    clean = crash_harness.clean_config(settings, tmp_path / "clean.toml", batch_max_records=batch, alert_min_score=10)
    reference_log = tmp_path / "reference.stderr"  # a file: a pipe nobody reads yet could fill and block it
    with reference_log.open("wb") as log:
        reference = subprocess.Popen(
            command, env=crash_harness.child_env(clean), cwd=crash_harness.ROOT, stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        hit = Counter(
            crash_harness.crash_once(command, crash_harness.child_env(config, c), c).split()[1] for c in crashes
        )
        assert hit == Counter({phase: 2 for phase in crash_harness.PROCESSOR_PHASES})
        code, stderr = crash_harness.run(command, crash_harness.child_env(config))
        assert code == 0, stderr

        verdict = crash_harness.verify(settings, workload)
        assert verdict.items == len(workload.key_of) and verdict.lost == 0, verdict
        assert verdict.doubled == 0 and verdict.misplaced == 0, verdict
        assert verdict.dead_letters == len(workload.poison) and verdict.poison_not_dead_lettered == 0, verdict
        assert verdict.dead_letters_missing_on_topic == 0 and verdict.dead_letters_doubled_in_store == 0, verdict
        assert verdict.alerts > 0 and verdict.alerts_missing_on_topic == 0 and verdict.alerts_not_recorded == 0, verdict
        assert verdict.offsets_at_end, verdict
        assert verdict.clean

        # The uncrashed run gives the same DuckDB contents.
        assert reference.wait(timeout=900) == 0, reference_log.read_text(errors="replace")
        assert crash_harness.store_differences(settings.store.path, tmp_path / "clean.duckdb") == {}
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait(timeout=60)


@pytest.mark.parametrize("count", [3])
def test_offsets_advance_only_with_results(settings: Settings, count: int) -> None:
    posts = [raw_post(i) for i in range(count)]
    _produce(settings, [(p.key.encode(), dump_envelope(p)) for p in posts])
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        processor.run_once()
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        offsets = sum(r[0] for r in con.execute("SELECT next_offset FROM consumer_offsets").fetchall())
        items = con.execute("SELECT count(*) FROM items").fetchone()[0]
    assert offsets == items == count


def test_alerts_go_out_once_with_stable_ids(settings: Settings) -> None:
    settings = settings.model_copy(update={"alerts": settings.alerts.model_copy(update={"min_score": 10.0})})
    posts = [raw_post(i) for i in range(6)]
    _produce(settings, [(p.key.encode(), dump_envelope(p)) for p in posts])
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        first = processor.run_once()
        _produce(settings, [(raw_post(50).key.encode(), dump_envelope(raw_post(50)))])
        processor.run_once()
    consumer = make_consumer(settings.kafka.bootstrap, settings.kafka)
    try:
        tps = partitions_of(consumer, settings.kafka.alerts_topic)
        ends = end_offsets(consumer, tps)
        alerts = [parse_envelope(r.value) for tp in tps for r in read_range(consumer, tp, 0, ends[tp])]
    finally:
        consumer.close()
    assert first.total("alerts") > 0
    ids = [a.alert_id for a in alerts]
    assert len(ids) == len(set(ids)), "an event's alert is not sent twice"
    assert all(a.alert_id == f"{a.event_id}:{a.level}" and a.signal_score >= 10 for a in alerts)
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        sent = {r[0] for r in con.execute("SELECT alert_id FROM alerts_sent").fetchall()}
    assert sent == set(ids)


def test_a_key_sent_twice_in_one_batch_keeps_its_latest_version(settings: Settings) -> None:
    original = raw_post(3)
    edited = original.model_copy(update={"title": "Edited title, second version"})
    _produce(settings, [(original.key.encode(), dump_envelope(original)), (edited.key.encode(), dump_envelope(edited))])
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        processor.run_once()
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        rows = con.execute("SELECT title FROM items WHERE item_id = ?", [original.key]).fetchall()
    assert rows == [("Edited title, second version",)]


def test_a_second_processor_never_moves_offsets_back(settings: Settings) -> None:
    from app.processor import ConcurrentProcessorError

    _produce(settings, [(raw_post(i).key.encode(), dump_envelope(raw_post(i))) for i in range(10)])
    with (
        Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as slow,
        Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as fast,
    ):
        ends = end_offsets(slow.consumer, slow.tps)
        # `slow` plans its batch, then `fast` commits the same ranges before `slow` commits.
        import app.pipeline as pipeline

        real_run_batch = pipeline.run_batch

        def run_then_let_the_other_commit(*args: object, **kwargs: object) -> None:
            real_run_batch(*args, **kwargs)
            pipeline.run_batch = real_run_batch  # the other processor runs unhindered
            fast.run_once()

        pipeline.run_batch = run_then_let_the_other_commit
        try:
            with pytest.raises(ConcurrentProcessorError, match="another processor is running"):
                slow.run_batch(ends)
        finally:
            pipeline.run_batch = real_run_batch
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        offsets = dict(con.execute("SELECT partition, next_offset FROM consumer_offsets").fetchall())
    assert {tp.partition: end for tp, end in ends.items() if end} == {p: o for p, o in offsets.items() if o}
