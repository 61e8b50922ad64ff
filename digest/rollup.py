"""Hourly rollup: per-hour aggregates per event and per category into `rollup_hourly`.

`rollup_hours` is what tests and the CLI call; the Prefect flow `hourly_rollup`
(flows/hourly_rollup.py) is a thin wrapper adding retries and caching.

Idempotence: the hours of a run are deleted and re-inserted in one transaction, so a
re-run (or a retry after a crash) replaces an hour instead of doubling it.

Score change: `events` keeps only the current score, so the change for an hour is the
current score minus the score recorded by the latest earlier rollup row of that event
(an event's first row counts its whole score as change).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from infra.store import Store

__all__ = ["HOUR", "hour_range", "rollup_hours", "rollup_span", "rollup_summary"]

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


def hour_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC hours covering [start, end): start floored, end ceiled."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("rollup bounds must be timezone-aware")
    lo = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hi_utc = end.astimezone(UTC)
    hi = hi_utc.replace(minute=0, second=0, microsecond=0)
    if hi < hi_utc:
        hi += HOUR
    if hi <= lo:
        raise ValueError(f"empty rollup range {start.isoformat()} .. {end.isoformat()}")
    return lo, hi


def rollup_span(
    start: datetime | None = None, end: datetime | None = None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """`hour_range` with the scheduled run's defaults: `end` the last full UTC hour's end (the hour
    `now` is in has not finished), `start` one hour before `end`."""
    if end is None:
        end = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if start is None:
        start = end - HOUR
    return hour_range(start, end)


def rollup_summary(lo: datetime, hi: datetime, written: int) -> str:
    """The run-log line of a rollup: an hour range with nothing in it is said so, not a silent 0."""
    return f"hourly-rollup {lo.isoformat()} .. {hi.isoformat()}: wrote {written} rows into rollup_hourly" + (
        " (no items or events in these hours)" if written == 0 else ""
    )


# Event rows: items published in the hour (membership from items.event_id, falling back
# to event_items for stages that only fill the link table), plus events first seen in the
# hour even when none of their items carry a date in it.
_EVENT_ROWS = """
CREATE TEMP TABLE _rollup_event AS
WITH member AS (
    SELECT date_trunc('hour', i.published_at) AS hour,
           coalesce(i.event_id, ei.event_id) AS event_id,
           i.publisher
    FROM items i
    LEFT JOIN (SELECT item_id, min(event_id) AS event_id FROM event_items GROUP BY item_id) ei
           ON ei.item_id = i.item_id
    WHERE i.published_at >= $lo AND i.published_at < $hi
),
mentions AS (
    SELECT hour, event_id, count(*) AS mentions, count(DISTINCT publisher) AS publishers
    FROM member WHERE event_id IS NOT NULL GROUP BY ALL
),
born AS (
    SELECT date_trunc('hour', first_seen) AS hour, event_id, 1 AS new_events
    FROM events WHERE first_seen >= $lo AND first_seen < $hi
),
joined AS (
    SELECT coalesce(m.hour, b.hour) AS hour, coalesce(m.event_id, b.event_id) AS event_id,
           coalesce(m.mentions, 0) AS mentions, coalesce(m.publishers, 0) AS publishers,
           coalesce(b.new_events, 0) AS new_events
    FROM mentions m FULL OUTER JOIN born b ON m.hour = b.hour AND m.event_id = b.event_id
)
SELECT j.hour, j.event_id, e.category, j.mentions, j.publishers, j.new_events,
       e.signal_score
FROM joined j JOIN events e ON e.event_id = j.event_id
"""

_INSERT_EVENTS = """
INSERT INTO rollup_hourly
    (hour, scope, key, category, mentions, publishers, new_events, signal_score, score_change)
WITH prior AS (
    -- the latest row of each event before this run's first hour: the baseline for the change
    SELECT key AS event_id, arg_max(signal_score, hour) AS signal_score
    FROM rollup_hourly
    WHERE scope = 'event' AND hour < $lo AND key IN (SELECT event_id FROM _rollup_event)
    GROUP BY key
),
series AS (
    SELECT hour, event_id, signal_score, FALSE AS fresh FROM (
        SELECT $lo - INTERVAL 1 HOUR AS hour, event_id, signal_score FROM prior)
    UNION ALL
    SELECT hour, event_id, signal_score, TRUE FROM _rollup_event
),
changes AS (
    SELECT hour, event_id,
           signal_score - coalesce(lag(signal_score) OVER (PARTITION BY event_id ORDER BY hour), 0)
               AS score_change
    FROM series
)
SELECT r.hour, 'event', r.event_id, r.category, r.mentions, r.publishers, r.new_events,
       r.signal_score, c.score_change
FROM _rollup_event r JOIN changes c ON c.hour = r.hour AND c.event_id = r.event_id
"""

# Category rows: mentions count every dated item of the hour by its event's category
# (or its own category when it joined no event), so off-event chatter is still counted.
_INSERT_CATEGORIES = """
INSERT INTO rollup_hourly
    (hour, scope, key, category, mentions, publishers, new_events, signal_score, score_change)
WITH item_rows AS (
    SELECT date_trunc('hour', i.published_at) AS hour,
           coalesce(e.category, i.category) AS category,
           count(*) AS mentions, count(DISTINCT i.publisher) AS publishers
    FROM items i
    LEFT JOIN (SELECT item_id, min(event_id) AS event_id FROM event_items GROUP BY item_id) ei
           ON ei.item_id = i.item_id
    LEFT JOIN events e ON e.event_id = coalesce(i.event_id, ei.event_id)
    WHERE i.published_at >= $lo AND i.published_at < $hi
    GROUP BY ALL
),
event_rows AS (
    SELECT hour, category, sum(new_events) AS new_events, sum(signal_score) AS signal_score,
           sum(score_change) AS score_change
    FROM rollup_hourly
    WHERE scope = 'event' AND hour >= $lo AND hour < $hi
    GROUP BY ALL
)
SELECT coalesce(i.hour, e.hour), 'category', coalesce(i.category, e.category), coalesce(i.category, e.category),
       coalesce(i.mentions, 0), coalesce(i.publishers, 0), coalesce(e.new_events, 0),
       coalesce(e.signal_score, 0), coalesce(e.score_change, 0)
FROM item_rows i FULL OUTER JOIN event_rows e ON e.hour = i.hour AND e.category = i.category
WHERE coalesce(i.category, e.category) IS NOT NULL
"""


def rollup_hours(store: Store, start: datetime, end: datetime) -> int:
    """Recompute the UTC hours covering [start, end); return the number of rows written."""
    lo, hi = hour_range(start, end)
    params = {"lo": lo, "hi": hi}
    with store.write() as con:
        # Hours are UTC hours whatever the session zone of the machine is.
        con.execute("SET TimeZone = 'UTC'")
        con.execute("DELETE FROM rollup_hourly WHERE hour >= $lo AND hour < $hi", params)
        con.execute(_EVENT_ROWS, params)
        con.execute(_INSERT_EVENTS, {"lo": lo})
        con.execute(_INSERT_CATEGORIES, params)
        con.execute("DROP TABLE _rollup_event")
        written = con.execute("SELECT count(*) FROM rollup_hourly WHERE hour >= $lo AND hour < $hi", params).fetchone()[
            0
        ]
    log.info("rolled up %s .. %s: %d rows", lo.isoformat(), hi.isoformat(), written)
    return int(written)
