"""Hourly rollup: per-hour aggregates per event and category, idempotent per hour."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.digest_corpus import configure_test_prefect, corpus_settings, populate, week

configure_test_prefect()

from digest.rollup import hour_range, rollup_hours, rollup_span, rollup_summary  # noqa: E402
from infra.store import Store  # noqa: E402

WEEK = (datetime(2026, 4, 13, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    settings = corpus_settings(tmp_path)
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    events, loose = week()
    populate(store, events, loose)
    return store


def _rows(store: Store) -> list[tuple[Any, ...]]:
    with store.read() as con:
        return con.execute(
            "SELECT hour, scope, key, category, mentions, publishers, new_events, signal_score, score_change"
            " FROM rollup_hourly ORDER BY hour, scope, key"
        ).fetchall()


def test_rollup_span_defaults_to_the_last_full_hour() -> None:
    now = datetime(2026, 4, 14, 15, 42, 7, tzinfo=UTC)
    assert rollup_span(now=now) == (datetime(2026, 4, 14, 14, tzinfo=UTC), datetime(2026, 4, 14, 15, tzinfo=UTC))
    # An end of one's own: the hour before it, ceiled and floored to whole hours.
    end = datetime(2026, 4, 14, 9, 30, tzinfo=UTC)
    assert rollup_span(end=end, now=now) == (
        datetime(2026, 4, 14, 8, tzinfo=UTC),
        datetime(2026, 4, 14, 10, tzinfo=UTC),
    )
    start = datetime(2026, 4, 13, tzinfo=UTC)
    assert rollup_span(start, end, now=now) == (start, datetime(2026, 4, 14, 10, tzinfo=UTC))


def test_rollup_summary_says_when_the_hours_held_nothing() -> None:
    lo, hi = datetime(2026, 4, 14, 14, tzinfo=UTC), datetime(2026, 4, 14, 15, tzinfo=UTC)
    assert rollup_summary(lo, hi, 12) == (
        "hourly-rollup 2026-04-14T14:00:00+00:00 .. 2026-04-14T15:00:00+00:00: wrote 12 rows into rollup_hourly"
    )
    assert rollup_summary(lo, hi, 0).endswith("wrote 0 rows into rollup_hourly (no items or events in these hours)")


def test_hour_range_covers_whole_utc_hours() -> None:
    lo, hi = hour_range(datetime(2026, 4, 14, 15, 5, tzinfo=UTC), datetime(2026, 4, 14, 16, 0, 1, tzinfo=UTC))
    assert (lo, hi) == (datetime(2026, 4, 14, 15, tzinfo=UTC), datetime(2026, 4, 14, 17, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        hour_range(datetime(2026, 4, 14), datetime(2026, 4, 15))


def test_rollup_is_idempotent_per_hour(store: Store) -> None:
    written = rollup_hours(store, *WEEK)
    first = _rows(store)
    assert written == len(first) > 0
    assert rollup_hours(store, *WEEK) == written  # the whole range again: replaced, not doubled
    assert _rows(store) == first
    # One hour again, alone: that hour is replaced, every other hour untouched.
    rollup_hours(store, datetime(2026, 4, 14, 15, tzinfo=UTC), datetime(2026, 4, 14, 16, tzinfo=UTC))
    assert _rows(store) == first


def test_rollup_counts_mentions_publishers_new_events_and_score_change(store: Store) -> None:
    rollup_hours(store, *WEEK)
    rows = {(r[0], r[1], r[2]): r for r in _rows(store)}
    # 2026-04-14 15:00 UTC: the official OpenAI post (15:00) and @OpenAI's post (15:05): one publisher.
    cyber = rows[(datetime(2026, 4, 14, 15, tzinfo=UTC), "event", "openai-trusted-access-cyber")]
    assert cyber[3:] == ("security-access", 2, 1, 1, 85.0, 85.0)  # first row: the whole score is change
    later = rows[(datetime(2026, 4, 14, 19, tzinfo=UTC), "event", "openai-trusted-access-cyber")]
    assert later[4:] == (1, 1, 0, 85.0, 0.0)  # same score an hour later: no change
    category = rows[(datetime(2026, 4, 14, 15, tzinfo=UTC), "category", "security-access")]
    assert category[4:7] == (2, 1, 1)
    # The carried-over funding event began before the range: its items in range still count.
    assert not any(k[2] == "openai-funding-122b" for k in rows if k[1] == "event" and k[0] < WEEK[0])


def test_score_change_is_measured_against_the_previous_rollup(store: Store) -> None:
    rollup_hours(store, datetime(2026, 4, 14, 15, tzinfo=UTC), datetime(2026, 4, 14, 16, tzinfo=UTC))
    with store.write() as con:
        con.execute("UPDATE events SET signal_score = 90 WHERE event_id = 'openai-trusted-access-cyber'")
    rollup_hours(store, datetime(2026, 4, 14, 19, tzinfo=UTC), datetime(2026, 4, 14, 20, tzinfo=UTC))
    rows = {(r[0], r[2]): r for r in _rows(store) if r[1] == "event"}
    assert rows[(datetime(2026, 4, 14, 19, tzinfo=UTC), "openai-trusted-access-cyber")][8] == 5.0
