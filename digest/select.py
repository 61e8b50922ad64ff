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
- Issue 12, [top] of selection.toml: an event that is unverified, or rests on a single
  source (not confirmed by an official voice and fewer than `min_sources` independent
  publishers or accounts), never
  enters the Top-N while `top_n` credible events exist; it may still appear as a flagged
  X signal. One page (same canonical URL, or same normalised title from one publisher)
  is featured once: an event all of whose pages are already featured is skipped.
- Ranking by signal score, at most `per_category` events per category in the Top-N
  unless nothing else qualifies.
- Events of the research categories of digest/playbooks/selection.toml (papers, research
  write-ups) are left to the research section: the Top-N holds industry events.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import duckdb

from digest.model import SourceItem

__all__ = [
    "LARGE_SCORE_CHANGE",
    "Candidate",
    "Featured",
    "Selection",
    "WindowSpec",
    "WINDOW_ITEMS",
    "load_selection_rules",
    "is_ai_paper",
    "load_window_items",
    "noise_sql",
    "page_keys",
    "paper_context",
    "paper_keys",
    "paper_mentions",
    "pick_posts",
    "pick_research",
    "rank_with_diversity",
    "select_events",
]

_SELECTION_RULES = Path(__file__).resolve().parent / "playbooks" / "selection.toml"


@cache
def load_selection_rules(path: str | None = None) -> dict[str, Any]:
    """The digest's selection choices (digest/playbooks/selection.toml unless `path` is given)."""
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
    # Issue 12: whether the Top-N may feature it while enough others exist (the candidates SQL), and
    # its pages, each as the keys that identify it (page_keys), so that one page is never featured twice.
    credible: bool = True
    pages: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class Selection:
    window: WindowSpec
    top: list[Candidate]
    ranked: list[Candidate]  # the head of each category's eligible events, best first
    featured_before: dict[str, Featured] = field(default_factory=dict)
    # (category, events, summed signal) over the events with items in the window and the featured ones,
    # featured before or not: the category mix of the overview and the chart
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
        " i.duplicate_of, i.engagement, i.handle"
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
           -- independent voices: a duplicate (a syndicated copy, a retweet) adds none; on X each
           -- account is a voice of its own, the platform is not one publisher for all of them
           count(DISTINCT coalesce(handle, publisher)) FILTER (WHERE duplicate_of IS NULL) AS voices,
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
           -- an official voice confirmed it, or enough independent ones agree (not one outlet's page)
           (e.verification = 'verified-by-official'
            OR (e.verification = 'corroborated' AND a.voices >= $min_sources)) AS credible,
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
       -- the ranking key of _sort_key, as a window: not credible last, then signal, breadth, recency
       row_number() OVER (
           PARTITION BY category, (NOT featured OR return_reason IS NOT NULL), research_only
           ORDER BY NOT credible, signal_score DESC, publishers DESC, first_seen DESC, event_id
       ) AS category_rank
FROM joined
"""


def _is_credible(c: Candidate) -> bool:
    return c.credible and c.verification != "unverified"


def _sort_key(c: Candidate) -> tuple[bool, float, int, float, str]:
    # Unverified and single-source events go last: the Top-N promises credible sources.
    return (not _is_credible(c), -c.signal_score, -c.publishers, -c.first_seen.timestamp(), c.event_id)


def _distinct_pages(ordered: Sequence[Candidate]) -> list[Candidate]:
    """Best first, without an event made only of pages a better-ranked event has (one page clustered twice)."""
    kept: list[Candidate] = []
    shown: set[str] = set()
    for cand in ordered:
        if cand.pages and all(page & shown for page in cand.pages):
            continue
        shown.update(*cand.pages)
        kept.append(cand)
    return kept


def rank_with_diversity(candidates: Sequence[Candidate], n: int, per_category: int = 2) -> list[Candidate]:
    """Best `n` by signal, at most `per_category` per category unless nothing else qualifies.

    An event whose pages are all featured already (the same page clustered twice) is left out,
    and an event that is not credible fills a slot only when fewer than `n` credible ones exist.
    """
    ordered = _distinct_pages(sorted(candidates, key=_sort_key))
    chosen: list[Candidate] = []
    held_back: list[Candidate] = []
    per: dict[str, int] = {}
    for cand in ordered:
        if len(chosen) == n:
            break
        if not _is_credible(cand) and held_back:
            # Over-quota credible events still beat an unverified or single-source one.
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
            "min_sources": int(load_selection_rules().get("top", {}).get("min_sources", 2)),
            # Typed empty lists: an untyped [] cannot be unnested.
            "featured_ids": [f.event_id for f in featured] or None,
            "featured_cutoffs": [f.cutoff for f in featured] or None,
            "featured_scores": [f.signal_score for f in featured] or None,
        },
    )
    head = max(head_per_category, top_n)
    rows = con.execute(
        f"SELECT event_id, title, category, verification, signal_score, first_seen, last_seen, items,"
        f" items_in_window, publishers, return_reason, credible FROM {_CANDIDATES}"
        f" WHERE eligible AND NOT research_only AND category_rank <= $head",
        {"head": head},
    ).fetchall()
    pages = _event_pages(con, [r[0] for r in rows])
    ranked = _distinct_pages(
        sorted(
            (
                Candidate(
                    event_id=r[0],
                    title=r[1],
                    category=r[2],
                    verification=r[3],
                    signal_score=float(r[4]),
                    first_seen=r[5],
                    last_seen=r[6],
                    items=int(r[7]),
                    items_in_window=int(r[8]),
                    publishers=int(r[9]),
                    carried_over=r[5] < window.start,
                    returning=r[10],
                    credible=bool(r[11]),
                    pages=tuple(pages.get(r[0], ())),
                )
                for r in rows
            ),
            key=_sort_key,
        )
    )
    # Research results (papers, research write-ups) are featured in the research section instead.
    research = research_categories()
    headline = [c for c in ranked if c.category not in research]
    top = rank_with_diversity(headline, top_n, per_category)
    # The mix is of the events the overview counts (DigestReader.stats: those with items in the window)
    # and of the featured ones carried over from before it (the overview says how many): every event of
    # the lookback made its tally add up to more events than the overview said there were.
    mix = [
        (r[0], int(r[1]), float(r[2]))
        for r in con.execute(
            f"SELECT category, count(*), sum(signal_score) FROM {_CANDIDATES}"
            " WHERE items_in_window > 0 OR list_contains($top, event_id)"
            " GROUP BY category ORDER BY sum(signal_score) DESC, category",
            {"top": [c.event_id for c in top]},
        ).fetchall()
    ]
    return Selection(window, top, ranked, before, mix)


# --- one page once (issue 12) ---------------------------------------------------------------------

_ARXIV_PATH = re.compile(r"^(/(?:abs|pdf)/\d{4}\.\d{4,5})(?:v\d+)?(?:\.pdf)?$")
_ARXIV_LINK = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})")
# A title this short ("Update", "News") says nothing about which page it is.
_MIN_TITLE_KEY = 12


def _url_key(url: str | None) -> str | None:
    """Scheme, www., query, fragment, trailing slash and an arXiv version say nothing about which page it is."""
    if not url or not url.lower().startswith(("http://", "https://")):
        return None
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    path = parts.path.rstrip("/") or "/"
    if host.endswith("arxiv.org"):
        match = _ARXIV_PATH.match(path)
        path = match.group(1).replace("/pdf/", "/abs/") if match else path
    return f"url:{host}{path}"


def _title_key(publisher: str, title: str) -> str | None:
    normal = re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", title).casefold())
    if len(normal) < _MIN_TITLE_KEY:
        return None
    return f"title:{unicodedata.normalize('NFKC', publisher).casefold().strip()}|{normal}"


def page_keys(url: str | None, canonical_url: str | None, publisher: str, title: str) -> frozenset[str]:
    """What identifies a page: its canonical URL (and the URL it was fetched at), and its title at its publisher.

    Two items sharing any key are the same page: the same post under two URLs (a feed's link and its
    canonical), or re-posted by its publisher under a new URL with the same title.
    """
    keys = {_url_key(url), _url_key(canonical_url), _title_key(publisher, title)}
    return frozenset(k for k in keys if k)


def _event_pages(con: duckdb.DuckDBPyConnection, event_ids: Sequence[str]) -> dict[str, list[frozenset[str]]]:
    """The page keys of each event's articles (posts on X are the event's discussion, not its pages)."""
    if not event_ids:
        return {}
    rows = con.execute(
        f"SELECT w.event_id, i.url, i.canonical_url, i.publisher, i.title FROM {WINDOW_ITEMS} w"
        " JOIN items i ON i.item_id = w.item_id"
        " WHERE w.event_id IN (SELECT unnest($ids)) AND w.tier <> 'social' AND w.source_kind <> 'x'",
        {"ids": list(event_ids)},
    ).fetchall()
    found: dict[str, list[frozenset[str]]] = {}
    for event_id, url, canonical, publisher, title in rows:
        keys = page_keys(url, canonical, publisher or "", title or "")
        if keys:
            found.setdefault(event_id, []).append(keys)
    return found


# --- research and X signals (issue 12) ------------------------------------------------------------


@dataclass(frozen=True)
class Mention:
    """An item in the window that links an arXiv paper (an official post, an article, a post on X)."""

    item_id: str
    event_id: str | None
    tier: str
    official: bool
    engagement: int


def paper_mentions(con: duckdb.DuckDBPyConnection, window: WindowSpec) -> dict[str, list[Mention]]:
    """arXiv id -> the window's items (other than papers) that link it, in their text or their links.

    Attention crosses events: a lab's post linking a paper is attention to that paper even when the
    clustering put the post in the lab's announcement rather than beside the paper.
    """
    rows = con.execute(
        f"SELECT w.item_id, w.event_id, w.tier, w.engagement, json_extract_string(i.record, '$.official_for'),"
        " i.text || ' ' || coalesce(CAST(json_extract(i.record, '$.linked_urls') AS VARCHAR), '')"
        f" FROM {WINDOW_ITEMS} w JOIN items i ON i.item_id = w.item_id"
        " WHERE w.published_at >= $start AND w.published_at < $end AND w.source_kind <> 'arxiv'"
        " AND w.duplicate_of IS NULL AND (i.text LIKE '%arxiv.org/%' OR i.record LIKE '%arxiv.org/%')",
        {"start": window.start, "end": window.end},
    ).fetchall()
    found: dict[str, list[Mention]] = {}
    for item_id, event_id, tier, engagement, official, text in rows:
        for arxiv_id in dict.fromkeys(_ARXIV_LINK.findall(text or "")):
            found.setdefault(arxiv_id, []).append(
                Mention(item_id, event_id, tier, bool(official) or tier == "official", int(engagement or 0))
            )
    return found


def _arxiv_id(item: SourceItem) -> str | None:
    for link in (item.url, item.canonical_url):
        match = _ARXIV_LINK.search(link or "")
        if match:
            return match.group(1)
    bare = item.item_id.removeprefix("arxiv:")
    return bare if re.fullmatch(r"\d{4}\.\d{4,5}", bare) else None


@cache
def _ai_patterns() -> tuple[tuple[str, ...], re.Pattern[str], tuple[re.Pattern[str], ...], int]:
    rules = load_selection_rules().get("research", {})
    strong = re.compile("|".join(rules.get("ai_terms", ["machine learning"])), re.IGNORECASE)
    weak = tuple(re.compile(term, re.IGNORECASE) for term in rules.get("ai_weak_terms", ()))
    return (tuple(rules.get("ai_categories", ())), strong, weak, int(rules.get("ai_weak_terms_needed", 3)))


def is_ai_paper(title: str, text: str, categories: Sequence[str] = ()) -> bool:
    """An AI/ML paper: an arXiv category of [research] ai_categories when the item carries categories,
    otherwise its title and abstract name AI methods (one strong term, or several weak ones).

    Weak terms alone ("transformer", "diffusion", "agent") are how a power-grid, physics or economics
    paper reads too, hence several of them.
    """
    ai_categories, strong, weak, needed = _ai_patterns()
    if categories:
        return any(c in ai_categories for c in categories)
    about = f"{title}\n{text}"
    if strong.search(about):
        return True
    # different terms, not one term said three times
    return sum(1 for term in weak if term.search(about)) >= needed


def _paper_name(title: str) -> str:
    """What a paper is called in a post: the part of its title before the colon, or the whole title."""
    head = title.split(":", 1)[0].strip()
    return head if 6 <= len(head) <= 40 else title.strip()


def paper_context(item: SourceItem, members: Sequence[Any]) -> list[Any]:
    """The other items of a paper's event that are about the paper itself.

    A research write-up is its event's lead: all of the event is about it. An arXiv paper may sit in
    a larger event (clustering put an OCR paper beside a lab's OCR model launch): only the members
    that link it or name it are attention to the paper, or a source for what it did.
    """
    others = [m for m in members if m.item_id != item.item_id]
    arxiv_id = _arxiv_id(item)
    if arxiv_id is None or (item.source_kind != "arxiv" and item.tier != "research"):
        return others
    name = _paper_name(item.title).casefold()
    return [
        m
        for m in others
        if m.source_kind != "arxiv"
        and m.tier != "research"
        and (arxiv_id in f"{m.text} {m.url or ''} {m.canonical_url or ''}" or name in f"{m.title} {m.text}".casefold())
    ]


def _in_window(moment: datetime | None, window: WindowSpec) -> bool:
    return moment is not None and window.start <= moment < window.end


def pick_research(
    pool: Sequence[tuple[SourceItem, Candidate | None]],
    window: WindowSpec,
    items_by_event: dict[str, list[Any]],
    mentions: dict[str, list[Mention]],
    shown_pages: frozenset[str] = frozenset(),
) -> list[tuple[Any, Candidate | None]]:
    """AI/ML papers and research write-ups by the attention they got in the window, one per event and page.

    Attention, by [research] of selection.toml: each official post, article or post on X of the
    window that belongs to the paper's event or links it, weighted by who said it, plus its reach
    (log10 engagement); then the event's signal. Recency is no merit: a paper submitted yesterday
    that nobody discussed ranks after an older one the week talked about.
    """
    rules = load_selection_rules().get("research", {})
    weights = {"official": float(rules.get("official_points", 3.0)), "media": float(rules.get("media_points", 2.0))}
    other_points = float(rules.get("other_points", 1.0))
    reach = float(rules.get("engagement_weight", 1.0))

    def attention(item: SourceItem, event: Candidate | None) -> float:
        seen: dict[str, tuple[str, bool, int]] = {}
        members = items_by_event.get(event.event_id, []) if event is not None else []
        for other in paper_context(item, members):
            if (
                other.duplicate_of is None
                and other.source_kind != "arxiv"
                and other.tier != "research"
                and _in_window(other.published_at, window)
            ):
                seen[other.item_id] = (other.tier, bool(other.official_for), other.engagement)
        arxiv_id = _arxiv_id(item)
        for mention in mentions.get(arxiv_id, []) if arxiv_id else []:
            seen.setdefault(mention.item_id, (mention.tier, mention.official, mention.engagement))
        total = sum(
            weights["official"] if official else weights.get(tier, other_points) for tier, official, _ in seen.values()
        )
        return total + reach * math.log10(1 + sum(max(0, e) for _, _, e in seen.values()))

    research = research_categories()

    def own_signal(event: Candidate | None) -> float:
        # The event's signal speaks for the paper only when the event is research: a paper clustered
        # into a policy announcement does not inherit the announcement's score.
        return event.signal_score if event is not None and event.category in research else 0.0

    scored = [
        (attention(item, event), own_signal(event), item, event)
        for item, event in pool
        if is_ai_paper(item.title, item.text, item.categories)
    ]
    scored.sort(key=lambda s: (-s[0], -s[1], s[2].item_id))
    chosen: list[tuple[Any, Candidate | None]] = []
    seen_events: set[str] = set()
    shown = set(shown_pages)
    for _, _, item, event in scored:
        key = event.event_id if event else f"item:{item.item_id}"
        pages = paper_keys(item)
        if key in seen_events or pages & shown:
            continue  # one paper per event, and a page (or paper version) already featured is not repeated
        seen_events.add(key)
        shown |= pages
        chosen.append((item, event))
        if len(chosen) == int(rules.get("max_items", 4)):
            break
    return chosen


def paper_keys(item: SourceItem) -> frozenset[str]:
    """A research item's page keys, plus the arXiv ids it is: every version of one paper is one page,
    and a lab's write-up of its paper (it links the paper and names it) features that paper too."""
    keys = set(page_keys(item.url, item.canonical_url, item.publisher, item.title))
    arxiv_id = _arxiv_id(item)
    ids = {arxiv_id} if arxiv_id else set()
    if not ids:
        head = item.title.split(":", 1)[0].strip().casefold()
        for linked in dict.fromkeys(_ARXIV_LINK.findall(item.text or "")):
            if len(head) >= 6 and head in (item.text or "").casefold():
                ids.add(linked)
    for found in ids:
        keys |= {f"arxiv:{found}", f"url:arxiv.org/abs/{found}"}
    return frozenset(keys)


def paper_authors(papers: Sequence[SourceItem]) -> dict[str, str]:
    """Author name (casefolded) -> the title of their paper in the window: a researcher posting about their work."""
    found: dict[str, str] = {}
    for paper in papers:
        for name in re.split(r",|;| and ", paper.author or ""):
            name = name.strip().casefold()
            if len(name.split()) >= 2:  # a full name, not a lone "team" or initial
                found.setdefault(name, paper.title)
    return found


def pick_posts(
    posts: Sequence[SourceItem],
    events: dict[str, Candidate],
    items_by_event: dict[str, list[Any]],
    top_ids: set[str],
    ranked_ids: set[str] = frozenset(),  # type: ignore[assignment]
    researchers: dict[str, str] | None = None,
) -> list[tuple[Any, str]]:
    """Posts that add information, one per event, each with the reason it was picked.

    By [x_signals] of selection.toml: an organisation's own account ("official") when its post is
    news the Top-N does not already carry in an official article; a paper's author posting about
    the work ("researcher"); the first account to report an event soon after it began
    ("first_report"); otherwise the reach of the post ("reach"). Small accounts repeating a story
    days later rank last. At most `max_unverified` posts of unverified events (a rumour) are
    shown, last and flagged ("rumour").
    """
    rules = load_selection_rules().get("x_signals", {})
    limit = int(rules.get("max_items", 6))
    early = timedelta(hours=float(rules.get("first_report_hours", 48)))

    def verification_of(post: SourceItem) -> str:
        event = events.get(post.event_id or "")
        return event.verification if event else "unverified"

    first_reporter: dict[str, str] = {}
    for event_id, members in items_by_event.items():
        dated = [m for m in members if m.published_at is not None]
        if not dated:
            continue
        start = min(m.published_at for m in dated)
        voices = sorted(
            (m for m in dated if m.is_social and not m.official_for and m.duplicate_of is None),
            key=lambda m: (m.published_at, m.item_id),
        )
        if voices and voices[0].published_at - start <= early:
            first_reporter[event_id] = voices[0].item_id

    def reason(post: SourceItem) -> str:
        event_id = post.event_id or ""
        if verification_of(post) == "unverified":
            return "rumour"
        announced = any(not m.is_social and m.tier == "official" for m in items_by_event.get(event_id, []))
        if post.official_for and not (event_id in top_ids and announced):
            return "official"  # the news itself, not yet in the Top-N as an official article
        if (post.author or "").strip().casefold() in (researchers or {}):
            return "researcher"
        if first_reporter.get(event_id) == post.item_id:
            return "first_report"
        return "reach"

    def points(post: SourceItem, why: str) -> float:
        total = float(rules.get(f"{why}_points", 0.0))
        if post.item_type in ("fact", "trend"):
            total += float(rules.get("informative_type_points", 1.0))
        if post.event_id in top_ids:
            total += float(rules.get("top_event_points", 1.0))
        elif post.event_id in ranked_ids:
            total += float(rules.get("ranked_event_points", 0.5))
        if verification_of(post) != "unverified":
            total += float(rules.get("credible_points", 2.0))
        return total + float(rules.get("engagement_weight", 0.5)) * math.log10(1 + max(0, post.engagement))

    def order(pw: tuple[SourceItem, str]) -> tuple[float, str]:
        # A rumour is shown by its most circulated post (what readers will have seen), not its best-typed one.
        post, why = pw
        return (-float(post.engagement) if why == "rumour" else -points(post, why), post.item_id)

    scored = [(post, reason(post)) for post in posts]
    credible: list[tuple[Any, str]] = []
    rumours: list[tuple[Any, str]] = []
    seen_events: set[str] = set()
    for post, why in sorted(scored, key=order):
        key = post.event_id if post.event_id in events else f"post:{post.item_id}"
        if key in seen_events:
            continue
        seen_events.add(key)
        (rumours if why == "rumour" else credible).append((post, why))
    # The rumour slots are reserved: a reader should see what is circulating unconfirmed, flagged —
    # the most widely circulated one (engagement), whatever its type.
    rumours.sort(key=lambda pw: (-pw[0].engagement, pw[0].item_id))
    reserved = rumours[: min(int(rules.get("max_unverified", 1)), limit)]
    return credible[: limit - len(reserved)] + reserved
