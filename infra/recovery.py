"""Noticing that the raw topic is not the one our offsets and cursors were recorded against.

The embedded broker keeps data only in memory, so a restart gives an empty `radar.raw.v1`
with a new topic id (so does deleting and recreating a topic on Apache Kafka). Offsets
stored in DuckDB then point into a topic that no longer exists, and connector cursors
claim that entries were delivered which never reached the processor. Compared by topic
id rather than by "stored offset > end", which misses a new topic that has already grown
past the old offset.
"""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient

from infra.config import KafkaSettings
from infra.store import Store

__all__ = ["current_topic_id", "reconcile_raw_topic"]

log = logging.getLogger(__name__)


def current_topic_id(bootstrap: str, kafka: KafkaSettings, topic: str) -> str | None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=kafka.request_timeout_ms)
    try:
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    topic_id = described[0].get("topic_id") if described else None
    # Brokers too old for topic ids answer with the all-zero id: treat it as unknown.
    return None if not topic_id or set(str(topic_id)) <= {"0", "-"} else str(topic_id)


def reconcile_raw_topic(store: Store, bootstrap: str, kafka: KafkaSettings) -> bool:
    """Reset what referred to an older raw topic; return True when a reset happened.

    Resets, in one transaction: the processor's offsets on that topic (it rereads from 0;
    upserts by key keep that single), and the connector cursors of entries that were
    produced but never landed in `items`, so the next ingest fetches and produces them again.
    """
    topic_id = current_topic_id(bootstrap, kafka, kafka.raw_topic)
    if topic_id is None:
        return False
    with store.write() as con:
        row = con.execute("SELECT topic_id FROM topic_incarnations WHERE topic = ?", [kafka.raw_topic]).fetchone()
        if row is not None and row[0] == topic_id:
            return False
        con.execute(
            "INSERT OR REPLACE INTO topic_incarnations (topic, topic_id, seen_at) VALUES (?, ?, now())",
            [kafka.raw_topic, topic_id],
        )
        if row is None:
            return False
        con.execute("DELETE FROM consumer_offsets WHERE topic = ?", [kafka.raw_topic])
        lost = con.execute(
            "DELETE FROM source_seen WHERE entry_key NOT IN (SELECT item_id FROM items) RETURNING entry_key"
        ).fetchall()
        # Validators (ETag, since_id) would make the next fetch skip what must be produced again.
        con.execute("DELETE FROM source_cursors")
    # The embedded broker keeps nothing across restarts, so every `radar digest` meets a new topic:
    # only entries to fetch again are worth a warning.
    log.log(
        logging.WARNING if lost else logging.INFO,
        "%s is a new topic (id %s, was %s): offsets reset, %d undelivered entries will be fetched again",
        kafka.raw_topic,
        topic_id,
        row[0],
        len(lost),
    )
    return True
