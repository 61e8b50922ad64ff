"""Which events a digest features: the window, carry-over, and ranking with category diversity.

Rules (issue 5):
- The window is `days` calendar days ending on `window_end` inclusive, with day
  boundaries in the digest timezone (a post at 23:30 Asia/Shanghai on the last day is
  in; the same instant is 15:30 UTC, which a UTC boundary would also include, but one
  at 00:30 on the next Shanghai day is out even though it is still "yesterday" in UTC).
- Carry-over: an event first seen up to `lookback_days` before the window is eligible
  when no earlier stored digest featured it.
- An event an earlier digest featured returns only with a new development after that
  digest's window: a new official item, a correction, or a large score change.
- Noise (off-topic items) and items dated outside [lookback start, window end) never
  count; unverified events rank after every verified or corroborated one.
- Ranking by signal score, at most `per_category` events per category in the Top-N
  unless nothing else qualifies.
- Events of the research categories of flows/playbooks/selection.toml (papers, research
  write-ups) are left to the research section: the Top-N holds industry events.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

__all__ = [
    "LARGE_SCORE_CHANGE",
    "Candidate",
    "Featured",
    "Selection",
    "WindowSpec",
    "WINDOW_ITEMS",
    "load_selection_rules",
    "load_window_items",
    "noise_sql",
    "rank_with_diversity",
    "select_events",
]

_SELECTION_RULES = Path(__file__).resolve().parent / "playbooks" / "selection.toml"


@cache
def load_selection_rules(path: str | None = None) -> dict[str, Any]:
    """The digest's selection choices (flows/playbooks/selection.toml unless `path` is given)."""
    return tomllib.loads(Path(path or _SELECTION_RULES).read_text(encoding="utf-8"))


def research_categories() -> frozenset[str]:
    """Categories whose events go to the research section rather than the Top-N."""
    return frozenset(load_selection_rules().get("top", {}).get("research_categories", ()))


# Points of signal a featured event must gain to return without another new item.
LARGE_SCORE_CHANGE = 15.0
# Titles that announce a correction, in the languages the sources use.
_CORRECTION_RE = r"(?i)\b(correction|corrected|clarification)\b|更正|勘误|澄清"


@dataclass(frozen=True)
class WindowSpec:
    """The digest window as dates in the digest timezone and as UTC-comparable instants."""

    from_: date
    to: date
    timezone: str
    start: datetime  # from_ 00:00 in the zone
    end: datetime  # the day after `to`, 00:00 in the zone (exclusive)
    lookback_start: datetime  # start - lookback_days

    @classmethod
    def ending(cls, window_end: date, days: int, timezone: str, lookback_days: int) -> WindowSpec:
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        zone = ZoneInfo(timezone)
        from_ = window_end - timedelta(days=days - 1)
        start = datetime.combine(from_, time(0), zone)
        end = datetime.combine(window_end + timedelta(days=1), time(0), zone)
        lookback = datetime.combine(from_ - timedelta(days=lookback_days), time(0), zone)
        return cls(from_, window_end, timezone, start, end, lookback)


@dataclass(frozen=True)
class Featured:
    """An event an earlier digest featured: when (its window's end) and at what score."""

    event_id: str
    window_to: date
    cutoff: datetime
    signal_score: float


@dataclass(frozen=True)
class Candidate:
    event_id: str
    title: str
    category: str
    verification: str
    signal_score: float
    first_seen: datetime
    last_seen: datetime
    items: int  # usable items in [lookback start, window end)
    items_in_window: int
    publishers: int
    carried_over: bool
    returning: str | None = None  # why a featured event is back ("official", "correction", "score")


@dataclass(frozen=True)
class Selection:
    window: WindowSpec
    top: list[Candidate]
    ranked: list[Candidate]  # the head of each category's eligible events, best first
    featured_before: dict[str, Featured] = field(default_factory=dict)
    # (category, events, summed signal) over every event active in the window, featured
    # before or not: the category mix of the overview and the chart
    mix: list[tuple[str, int, float]] = field(default_factory=list)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?",
        [table],
    ).fetchall()
    return {r[0] for r in rows}


WINDOW_ITEMS = "digest_window_items"


def noise_sql(con: duckdb.DuckDBPyConnection, alias: str = "i") -> str:
    """SQL predicate that is true for noise (off-topic) items.

    The classify stage sets `Item.off_topic` inside `record`; an `items.off_topic` column,
    if a migration adds one, is used directly (no scan of a million JSON records).
    """
    cols = _columns(con, "items")
    for name in ("off_topic", "noise"):
        if name in cols:
            return f"coalesce({alias}.{name}, FALSE)"
    # Every item/1 record carries "off_topic" (default false): a regex finds the few true ones
    # (compact or spaced JSON) faster than parsing every record, and the parser confirms them.
    return (
        f"(regexp_matches({alias}.record, '\"off_topic\":\\s*true')"
        f" AND coalesce(TRY_CAST(json_extract_string({alias}.record, '$.off_topic') AS BOOLEAN), FALSE))"
    )


def load_window_items(con: duckdb.DuckDBPyConnection, window: WindowSpec) -> None:
    """Materialise, once per connection, the narrow rows of every usable item in [lookback start, end).

    Usable: not noise, dated. Every later digest query reads this temp table instead of
    re-scanning `items` (and its JSON) — the difference between ~8 s and ~1 s at 1M items.
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {WINDOW_ITEMS} AS"
        " SELECT i.item_id, i.event_id, i.tier, i.source_kind, i.publisher, i.title, i.published_at, i.updated_at,"
        " i.duplicate_of, i.engagement"
        f" FROM items i WHERE i.published_at >= $lookback AND i.published_at < $end AND NOT {noise_sql(con)}",
        {"lookback": window.lookback_start, "end": window.end},
    )
    missing = con.execute(f"SELECT count(*) FROM {WINDOW_ITEMS} WHERE event_id IS NULL").fetchone()[0]
    if missing:
        # Items whose event only the link table records (a stage may fill event_items alone).
        con.execute(
            f"UPDATE {WINDOW_ITEMS} w SET event_id = ei.event_id FROM ("
            " SELECT item_id, min(event_id) AS event_id FROM event_items"
            f" WHERE item_id IN (SELECT item_id FROM {WINDOW_ITEMS} WHERE event_id IS NULL) GROUP BY item_id"
            ") ei WHERE w.item_id = ei.item_id"
        )


def _event_filter_sql(con: duckdb.DuckDBPyConnection, alias: str = "e") -> str:
    cols = _columns(con, "events")
    for name in ("off_topic", "noise"):
        if name in cols:
            return f"NOT coalesce({alias}.{name}, FALSE)"
    return "TRUE"


def featured_before(con: duckdb.DuckDBPyConnection, window: WindowSpec) -> dict[str, Featured]:
    """Events featured by stored digests whose window ended before this one (latest wins)."""
    rows = con.execute(
        "SELECT window_to, timezone, record FROM digests WHERE window_to < ? ORDER BY window_to",
        [window.to],
    ).fetchall()
    found: dict[str, Featured] = {}
    for window_to, timezone, record in rows:
        cutoff = datetime.combine(window_to + timedelta(days=1), time(0), ZoneInfo(timezone))
        try:
            top = json.loads(record).get("top_events", [])
        except (TypeError, ValueError):
            continue
        for event in top:
            event_id = event.get("id")
            if event_id:
                found[event_id] = Featured(event_id, window_to, cutoff, float(event.get("signal_score", 0.0)))
    return found


_CANDIDATES = "digest_candidates"


def _candidates_sql(event_ok: str) -> str:
    """Every event active in the window with its returning reason and eligibility, as a temp table.

    Done in SQL because a busy week holds ~100k events: Python only ever sees the head
    of each category (and the category totals), never all of them.
    """
    return f"""
CREATE OR REPLACE TEMP TABLE {_CANDIDATES} AS
WITH agg AS (
    SELECT event_id,
           count(*) AS items,
           count(*) FILTER (WHERE published_at >= $start) AS items_in_window,
           count(DISTINCT publisher) AS publishers,
           max(published_at) FILTER (WHERE tier = 'official') AS last_official,
           -- papers alone are not news events: they go to the research section, not the Top-N
           bool_and(source_kind = 'arxiv') AS research_only,
           greatest(
               max(updated_at) FILTER (WHERE updated_at > published_at + INTERVAL 1 HOUR AND updated_at < $end),
               max(published_at) FILTER (WHERE regexp_matches(title, '{_CORRECTION_RE}'))
           ) AS last_correction
    FROM {WINDOW_ITEMS} WHERE event_id IS NOT NULL
    GROUP BY event_id
),
featured AS (
    SELECT unnest($featured_ids) AS event_id, unnest($featured_cutoffs) AS cutoff,
           unnest($featured_scores) AS score
),
joined AS (
    SELECT e.event_id, e.title, e.category, e.verification, e.signal_score, e.first_seen, e.last_seen,
           a.items, a.items_in_window, a.publishers, a.research_only,
           CASE
               WHEN f.event_id IS NULL THEN NULL
               WHEN a.last_official >= f.cutoff THEN 'official'
               WHEN a.last_correction >= f.cutoff THEN 'correction'
               WHEN e.signal_score - f.score >= $large_change THEN 'score'
           END AS return_reason,
           f.event_id IS NOT NULL AS featured
    FROM events e JOIN agg a ON a.event_id = e.event_id
    LEFT JOIN featured f ON f.event_id = e.event_id
    WHERE e.first_seen >= $lookback AND e.first_seen < $end AND {event_ok}
)
SELECT *, (NOT featured OR return_reason IS NOT NULL) AS eligible,
       -- the ranking key of _sort_key, as a window: unverified last, then signal, breadth, recency
       row_number() OVER (
           PARTITION BY category, (NOT featured OR return_reason IS NOT NULL), research_only
           ORDER BY verification = 'unverified', signal_score DESC, publishers DESC, first_seen DESC, event_id
       ) AS category_rank
FROM joined
"""


def _sort_key(c: Candidate) -> tuple[bool, float, int, float, str]:
    # Unverified events go last: the Top-N promises credible sources.
    return (c.verification == "unverified", -c.signal_score, -c.publishers, -c.first_seen.timestamp(), c.event_id)


def rank_with_diversity(candidates: Sequence[Candidate], n: int, per_category: int = 2) -> list[Candidate]:
    """Best `n` by signal, at most `per_category` per category unless nothing else qualifies."""
    ordered = sorted(candidates, key=_sort_key)
    chosen: list[Candidate] = []
    held_back: list[Candidate] = []
    per: dict[str, int] = {}
    for cand in ordered:
        if len(chosen) == n:
            break
        if cand.verification == "unverified" and held_back:
            # Over-quota verified events still beat unverified ones.
            break
        if per.get(cand.category, 0) >= per_category:
            held_back.append(cand)
            continue
        per[cand.category] = per.get(cand.category, 0) + 1
        chosen.append(cand)
    if len(chosen) < n:
        rest = [c for c in ordered if c not in chosen]
        chosen.extend(rest[: n - len(chosen)])
    return sorted(chosen, key=_sort_key)


def select_events(
    con: duckdb.DuckDBPyConnection,
    window: WindowSpec,
    top_n: int = 5,
    per_category: int = 2,
    large_score_change: float = LARGE_SCORE_CHANGE,
    head_per_category: int = 10,
) -> Selection:
    """Eligible events for `window`, ranked, and the Top-N with category diversity.

    `Selection.ranked` holds the best `head_per_category` eligible events of each category
    (at least `top_n`, so the diversity pass sees everything it could ever pick).
    """
    before = featured_before(con, window)
    load_window_items(con, window)
    featured = sorted(before.values(), key=lambda f: f.event_id)
    con.execute(
        _candidates_sql(_event_filter_sql(con)),
        {
            "lookback": window.lookback_start,
            "start": window.start,
            "end": window.end,
            "large_change": large_score_change,
            # Typed empty lists: an untyped [] cannot be unnested.
            "featured_ids": [f.event_id for f in featured] or None,
            "featured_cutoffs": [f.cutoff for f in featured] or None,
            "featured_scores": [f.signal_score for f in featured] or None,
        },
    )
    head = max(head_per_category, top_n)
    rows = con.execute(
        f"SELECT event_id, title, category, verification, signal_score, first_seen, last_seen, items,"
        f" items_in_window, publishers, return_reason FROM {_CANDIDATES}"
        f" WHERE eligible AND NOT research_only AND category_rank <= $head",
        {"head": head},
    ).fetchall()
    ranked = sorted(
        (
            Candidate(
                event_id=r[0], title=r[1], category=r[2], verification=r[3], signal_score=float(r[4]),
                first_seen=r[5], last_seen=r[6], items=int(r[7]), items_in_window=int(r[8]), publishers=int(r[9]),
                carried_over=r[5] < window.start, returning=r[10],
            )
            for r in rows
        ),
        key=_sort_key,
    )
    mix = [
        (r[0], int(r[1]), float(r[2]))
        for r in con.execute(
            f"SELECT category, count(*), sum(signal_score) FROM {_CANDIDATES}"
            " GROUP BY category ORDER BY sum(signal_score) DESC, category"
        ).fetchall()
    ]
    # Research results (papers, research write-ups) are featured in the research section instead.
    research = research_categories()
    headline = [c for c in ranked if c.category not in research]
    return Selection(window, rank_with_diversity(headline, top_n, per_category), ranked, before, mix)
