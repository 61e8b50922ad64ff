"""Other Kafka clients against the embedded broker: librdkafka 2.x (confluent-kafka) and kcat.

Users' tools are librdkafka or Java, not kafka-python. The embedded Tansu answers
ApiVersions v3 with its four tagged fields written out at their default values
(SupportedFeatures, FinalizedFeaturesEpoch = -1, FinalizedFeatures, ZkMigrationReady);
Apache Kafka leaves them out. librdkafka 2.x reads them; the librdkafka 1.7.1 inside Debian
12's kcat mis-skips them ("ApiVersionRequest failed: Local: Read underflow"). README, "Kafka:
other clients", gives the settings each needs; these tests hold them true.
"""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime

import confluent_kafka
import duckdb

from app.processor import Processor
from infra.config import Settings
from infra.kafka import make_producer
from schemas.envelope import dump_envelope, parse_envelope
from tests.factories import raw_post

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)

# kcat 1.7.1 (Debian 12): skip the ApiVersions exchange and assume an old protocol.
KCAT_OLD_LIBRDKAFKA = ["-X", "api.version.request=false", "-X", "broker.version.fallback=0.9.0"]


def _produce(settings: Settings, count: int) -> list[str]:
    producer = make_producer(settings.kafka.bootstrap, settings.kafka)
    posts = [raw_post(i) for i in range(count)]
    for post in posts:
        producer.send(settings.kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post), partition=0)
    producer.flush()
    producer.close()
    return [p.key for p in posts]


def test_librdkafka_2_reads_with_a_group_and_writes_with_default_settings(settings: Settings) -> None:
    keys = _produce(settings, 5)
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": f"it-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([settings.kafka.raw_topic])
    seen: list[str] = []
    try:
        while len(seen) < len(keys):
            message = consumer.poll(30)
            assert message is not None, f"librdkafka read {len(seen)} of {len(keys)} records"
            assert message.error() is None, message.error()
            seen.append(parse_envelope(message.value()).key)
    finally:
        consumer.close()
    assert sorted(seen) == sorted(keys)

    # A record written by librdkafka is processed like any other.
    extra = raw_post(99)
    producer = confluent_kafka.Producer({"bootstrap.servers": settings.kafka.bootstrap, "acks": "all"})
    producer.produce(settings.kafka.raw_topic, key=extra.key.encode(), value=dump_envelope(extra))
    assert producer.flush(30) == 0
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        processor.run_once()
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        stored = {r[0] for r in con.execute("SELECT item_id FROM items").fetchall()}
    assert stored == {*keys, extra.key}


def test_kcat_1_7_lists_topics_and_reads_absolute_offsets_with_the_documented_settings(settings: Settings) -> None:
    keys = _produce(settings, 3)
    bootstrap = ["-b", settings.kafka.bootstrap, *KCAT_OLD_LIBRDKAFKA]
    listing = subprocess.run(
        ["kcat", *bootstrap, "-L", "-t", settings.kafka.raw_topic], capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    assert f'topic "{settings.kafka.raw_topic}"' in listing.stdout
    read = subprocess.run(
        [
            "kcat",
            *bootstrap,
            "-C",
            "-t",
            settings.kafka.raw_topic,
            "-p",
            "0",
            "-o",
            "0",
            "-c",
            str(len(keys)),
            "-e",
            "-f",
            "%k\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.split() == keys


def test_kcat_1_7_with_default_settings_fails_as_documented(settings: Settings) -> None:
    # Kept as a test so the README's explanation is re-checked when Tansu or kcat changes.
    result = subprocess.run(
        ["kcat", "-b", settings.kafka.bootstrap, "-L", "-m", "3"], capture_output=True, text=True, timeout=60
    )
    if result.returncode == 0:
        raise AssertionError("kcat now works with default settings: update README 'Kafka: other clients'")
    assert "ApiVersionRequest failed" in result.stderr
