"""The daily digest: `build_digest` / `write_digest` (library) and the `daily_digest` Prefect flow.

Call `flows.prefect_env.configure_prefect(settings)` before importing this module: it
imports prefect, which reads its home and telemetry settings at import time.

Reading follows infra/store.py: one read-only connection gathers every row the digest
needs, then closes; prose, rendering and the optional LLM polish run with the file free.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import INPUTS

from flows.digest_content import (
    CategoryMix,
    Playbook,
    SourceItem,
    business_analysis,
    conclusions,
    order_by_tier,
    overview,
    research_highlight,
    top_event,
    unique_prose,
    x_signal,
    x_signal_url,
)
from flows.digest_headline import event_headline
from flows.digest_llm import polish_top_events
from flows.digest_render import render_html, render_markdown
from flows.digest_select import (
    WINDOW_ITEMS,
    Candidate,
    Selection,
    WindowSpec,
    load_selection_rules,
    research_categories,
    select_events,
)
from infra.config import ConfigError, Settings, load_settings
from infra.store import Store
from schemas.digest import CategorySignal, Digest, DigestStats, DigestWindow

__all__ = ["build_digest", "daily_digest", "digest_paths", "store_digest", "write_digest"]

log = logging.getLogger(__name__)

MAX_X_SIGNALS = 5
MAX_RESEARCH = 4
_VERIFICATION_RANK = {"verified-by-official": 0, "corroborated": 1, "unverified": 2}

# Full rows for a handful of items picked from the narrow window table (WINDOW_ITEMS);
# the event comes from that table, which also resolved event_items-only memberships.
_ITEM_ROWS = f"""
SELECT i.item_id, w.event_id, i.source_kind, i.tier, i.publisher, i.url, i.canonical_url, i.title, i.text, i.lang,
       i.published_at, i.handle, i.item_type, i.engagement, i.duplicate_of,
       json_extract(i.record, '$.entities') AS entities, json_extract_string(i.record, '$.official_for'),
       i.updated_at
FROM {WINDOW_ITEMS} w JOIN items i ON i.item_id = w.item_id
WHERE w.item_id IN (SELECT unnest($ids))
ORDER BY i.published_at, i.item_id
"""


def _source_item(row: tuple[Any, ...]) -> SourceItem:
    entities: dict[str, Any] = {}
    if row[15]:
        try:
            loaded = json.loads(row[15])
            entities = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            entities = {}
    return SourceItem(
        item_id=row[0], event_id=row[1], source_kind=row[2], tier=row[3], publisher=row[4], url=row[5],
        canonical_url=row[6], title=row[7] or "", text=row[8] or "", lang=row[9] or "und", published_at=row[10],
        handle=row[11], item_type=row[12], engagement=int(row[13] or 0), duplicate_of=row[14], entities=entities,
        official_for=row[16], updated_at=row[17],
    )


class _Reader:
    """The digest's queries over one read-only connection (after select_events built WINDOW_ITEMS)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, window: WindowSpec) -> None:
        self.con = con
        self.window = window
        self.bounds = {"start": window.start, "end": window.end}

    def _items(self, item_ids: Sequence[str]) -> list[SourceItem]:
        if not item_ids:
            return []
        return [_source_item(r) for r in self.con.execute(_ITEM_ROWS, {"ids": list(item_ids)}).fetchall()]

    def event_items(self, event_ids: Iterable[str], per_event: int = 60) -> dict[str, list[SourceItem]]:
        """Usable items of these events, the strongest `per_event` of each (a viral event has thousands)."""
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        item_ids = [
            r[0]
            for r in self.con.execute(
                f"SELECT item_id FROM {WINDOW_ITEMS} WHERE event_id IN (SELECT unnest($ids))"
                " QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY"
                "   CASE tier WHEN 'official' THEN 0 WHEN 'research' THEN 1 WHEN 'media' THEN 2"
                "   WHEN 'community' THEN 3 ELSE 4 END, published_at, item_id) <= $n",
                {"ids": ids, "n": per_event},
            ).fetchall()
        ]
        found: dict[str, list[SourceItem]] = {i: [] for i in ids}
        for item in self._items(item_ids):
            found[item.event_id or ""].append(item)
        return found

    def events(self, event_ids: Iterable[str]) -> dict[str, Candidate]:
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        rows = self.con.execute(
            "SELECT event_id, title, category, verification, signal_score, first_seen, last_seen, items, publishers"
            " FROM events WHERE event_id IN (SELECT unnest($ids))",
            {"ids": ids},
        ).fetchall()
        return {
            r[0]: Candidate(r[0], r[1], r[2], r[3], float(r[4]), r[5], r[6], int(r[7]), int(r[7]), int(r[8]),
                            carried_over=r[5] < self.window.start)
            for r in rows
        }

    def _pick(self, where: str, order: str, limit: int, *, updated_counts: bool = False) -> list[SourceItem]:
        # A paper's new version inside the window makes it window news even when v1 is older.
        when = (
            "((published_at >= $start AND published_at < $end)"
            " OR (updated_at >= $start AND updated_at < $end AND updated_at > published_at))"
            if updated_counts
            else "published_at >= $start AND published_at < $end"
        )
        ids = [
            r[0]
            for r in self.con.execute(
                f"SELECT item_id FROM {WINDOW_ITEMS} WHERE {where} AND {when}"
                f" AND duplicate_of IS NULL ORDER BY {order} LIMIT {int(limit)}",
                self.bounds,
            ).fetchall()
        ]
        return self._items(ids)

    def posts(self, limit: int = 200) -> list[SourceItem]:
        return self._pick("(tier = 'social' OR source_kind = 'x')", "engagement DESC, item_id", limit)

    def papers(self, limit: int = 200) -> list[SourceItem]:
        return self._pick("(source_kind = 'arxiv' OR tier = 'research')",
                          "greatest(published_at, coalesce(updated_at, published_at)) DESC, item_id", limit,
                          updated_counts=True)

    def stats(self) -> dict[str, int]:
        # Items in and duplicates count everything that arrived, noise included; events only usable items.
        items_in, duplicates = self.con.execute(
            "SELECT count(*), count(duplicate_of) FROM items WHERE published_at >= $start AND published_at < $end",
            self.bounds,
        ).fetchone()
        events = self.con.execute(
            f"SELECT count(DISTINCT event_id) FROM {WINDOW_ITEMS} WHERE published_at >= $start AND published_at < $end",
            self.bounds,
        ).fetchone()[0]
        rejected = self.con.execute(
            "SELECT count(*) FROM dead_letters WHERE occurred_at >= $start AND occurred_at < $end", self.bounds
        ).fetchone()[0]
        return {"items_in": int(items_in), "duplicates": int(duplicates), "rejected": int(rejected),
                "events": int(events)}


def _pick_posts(
    posts: Sequence[SourceItem], events: dict[str, Candidate], top_ids: set[str] | None = None,
    ranked_ids: set[str] | None = None,
) -> list[SourceItem]:
    """High-signal posts, one per event, by the points of [x_signals] in flows/playbooks/selection.toml.

    Opinions and trend calls by accounts that are not an organisation's own channel, about events
    the digest ranks, come first; an official account's fact post (the announcement itself, already
    a Top-N source) comes last. At most `max_unverified` posts of unverified events (a rumour) make
    it in, shown with their unverified status. Engagement breaks ties.
    """
    rules = load_selection_rules().get("x_signals", {})
    limit = int(rules.get("max_items", MAX_X_SIGNALS))
    preferred = set(rules.get("preferred_types", ("opinion", "trend")))
    top_ids = top_ids or set()
    ranked_ids = ranked_ids or set()

    def verification_of(post: SourceItem) -> str:
        event = events.get(post.event_id or "")
        return event.verification if event else "unverified"

    def points(post: SourceItem) -> float:
        total = 0.0
        if post.item_type in preferred:
            total += float(rules.get("preferred_type_points", 3.0))
        if not post.official_for:
            total += float(rules.get("non_official_points", 3.0))
        if post.event_id in top_ids:
            total += float(rules.get("top_event_points", 2.0))
        elif post.event_id in ranked_ids:
            total += float(rules.get("ranked_event_points", 1.0))
        if verification_of(post) != "unverified":
            total += float(rules.get("credible_points", 2.0))
        return total + float(rules.get("engagement_weight", 0.5)) * math.log10(1 + max(0, post.engagement))

    credible: list[SourceItem] = []
    rumours: list[SourceItem] = []
    seen_events: set[str] = set()
    for post in sorted(posts, key=lambda p: (-points(p), p.item_id)):
        key = post.event_id if post.event_id in events else f"post:{post.item_id}"
        if key in seen_events:
            continue
        seen_events.add(key)
        (rumours if verification_of(post) == "unverified" else credible).append(post)
    # The rumour slots are reserved: a reader should see what is circulating unconfirmed, flagged —
    # the most widely circulated one (engagement), whatever its type.
    rumours.sort(key=lambda p: (-p.engagement, p.item_id))
    reserved = rumours[: min(int(rules.get("max_unverified", 1)), limit)]
    return credible[: limit - len(reserved)] + reserved


def _pick_research(
    papers: Sequence[SourceItem],
    selection: Selection,
    top_ids: set[str],
    items_by_event: dict[str, list[SourceItem]],
    events: dict[str, Candidate],
) -> list[tuple[SourceItem, Candidate | None]]:
    """arXiv/research-tier items, plus research-category events outside the Top-N, by event signal."""
    pool: list[tuple[SourceItem, Candidate | None]] = [(p, events.get(p.event_id or "")) for p in papers]
    for cand in selection.ranked:
        if cand.category in research_categories() and cand.event_id not in top_ids:
            best = [i for i in order_by_tier(items_by_event.get(cand.event_id, [])) if not i.is_social and i.link]
            if best:
                pool.append((best[0], cand))
    rules = load_selection_rules().get("research", {})
    far = datetime.min.replace(tzinfo=ZoneInfo("UTC"))

    def activity(item: SourceItem) -> datetime:
        return max(item.published_at or far, item.updated_at or far)

    def points(item: SourceItem, event: Candidate | None) -> float:
        # Coverage beyond the paper itself (posts or articles linking it), its engagement, a new
        # version inside the window; then the event's signal.
        others = [i for i in items_by_event.get(event.event_id, []) if i.item_id != item.item_id] if event else []
        total = float(rules.get("coverage_weight", 10.0)) * len(others)
        total += float(rules.get("engagement_weight", 2.0)) * math.log10(1 + sum(max(0, i.engagement) for i in others))
        if (item.updated_at is not None and item.published_at is not None and item.updated_at > item.published_at
                and selection.window.start <= item.updated_at < selection.window.end):
            total += float(rules.get("updated_in_window_points", 5.0))
        return total + (event.signal_score if event else 0.0)

    pool.sort(key=lambda pe: (-points(*pe), -activity(pe[0]).timestamp(), pe[0].item_id))
    chosen: list[tuple[SourceItem, Candidate | None]] = []
    seen: set[str] = set()
    for item, event in pool:
        key = event.event_id if event else f"item:{item.item_id}"
        if key in seen or item.item_id in seen or (event is not None and event.event_id in top_ids):
            continue
        seen.update({key, item.item_id})
        chosen.append((item, event))
        if len(chosen) == int(rules.get("max_items", MAX_RESEARCH)):
            break
    return chosen


def build_digest(
    store: Store,
    settings: Settings,
    window_end: date,
    days: int = 7,
    lang: Literal["zh", "en"] | None = None,
    *,
    now: datetime | None = None,
    polish: bool = True,
) -> Digest:
    """Select, write and assemble the digest for the `days` days ending on `window_end` (inclusive)."""
    language: Literal["zh", "en"] = lang or settings.digest.language
    book = Playbook.load(language)
    window = WindowSpec.ending(window_end, days, settings.digest.timezone, settings.digest.lookback_days)
    with store.read() as con:
        # Python receives timestamps in the session zone; pin it so nothing depends on the host.
        con.execute("SET TimeZone = 'UTC'")
        selection = select_events(con, window, settings.digest.top_events)
        reader = _Reader(con, window)
        stats = reader.stats()
        # Only posts a valid link can be built for: see x_signal_url.
        posts = [post for post in reader.posts() if x_signal_url(post) is not None]
        papers = reader.papers()
        research_events = [c.event_id for c in selection.ranked if c.category in research_categories()][:50]
        side_ids = {p.event_id for p in [*posts, *papers] if p.event_id}
        events = reader.events(side_ids | {c.event_id for c in selection.top})
        # Items of every ranked event too: the business analysis names them, by their headline.
        items_by_event = reader.event_items([c.event_id for c in selection.top] + research_events + sorted(side_ids)
                                            + [c.event_id for c in selection.ranked])
    # The file is free from here on.

    def headlined(cand: Candidate) -> Candidate:
        items = items_by_event.get(cand.event_id, [])
        return replace(cand, title=event_headline(cand.title, cand.category, cand.verification, items, book))

    selection = replace(selection, top=[headlined(c) for c in selection.top],
                        ranked=[headlined(c) for c in selection.ranked])
    events = {k: headlined(c) for k, c in events.items()}
    top_ids = {c.event_id for c in selection.top}
    top = [top_event(c, items_by_event.get(c.event_id, []), book, window) for c in selection.top]
    if polish and settings.llm.endpoint:
        top = polish_top_events(top, items_by_event, settings.llm, language)
    chosen_posts = _pick_posts(posts, events, top_ids, {c.event_id for c in selection.ranked})
    x_signals = [
        x_signal(p, events.get(p.event_id or ""), items_by_event.get(p.event_id or "", []), book) for p in chosen_posts
    ]
    research = [
        research_highlight(item, event, items_by_event.get(event.event_id, []) if event else [], book, window)
        for item, event in _pick_research(papers, selection, top_ids, items_by_event, events)
    ]
    mix = CategoryMix(selection.mix)
    others = [c for c in selection.ranked if c.event_id not in top_ids]
    digest = Digest(
        language=language,
        generated_at=now or datetime.now(ZoneInfo(settings.digest.timezone)),
        window=DigestWindow.model_validate({"from": window.from_, "to": window.to, "timezone": window.timezone}),
        overview=overview(top, mix, window, stats, book),
        conclusions=conclusions(top, len(research), book, stats),
        top_events=top,
        x_signals=x_signals,
        research=research,
        business_analysis=business_analysis(top, others, book),
        stats=DigestStats(**stats),
        category_signal=[CategorySignal(category=c, signal=round(s, 1), events=n) for c, n, s in mix.rows],
    )
    # Last, after any LLM polish: no sentence is said twice in one digest.
    return unique_prose(digest, book)


def digest_paths(digest: Digest, out_dir: Path) -> dict[str, Path]:
    stem = f"digest-{digest.window.to.isoformat()}"
    return {ext: out_dir / f"{stem}.{ext}" for ext in ("md", "json", "html")}


def _write_atomically(path: Path, text: str) -> None:
    # A reader (or a crashed run) never sees half a file: write aside, then rename.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def store_digest(store: Store, digest: Digest) -> None:
    """Keep the digest in DuckDB (one row per window end and language; a re-run replaces it)."""
    with store.write() as con:
        con.execute(
            "INSERT OR REPLACE INTO digests (digest_date, language, window_from, window_to, timezone, event_ids,"
            " record) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [digest.window.to, digest.language, digest.window.from_, digest.window.to, digest.window.timezone,
             [e.id for e in digest.top_events], digest.model_dump_json(by_alias=True)],
        )


def write_digest(digest: Digest, out_dir: Path | str, store: Store | None = None) -> list[Path]:
    """Write digest-<to>.md/.json/.html into `out_dir`; also store it in DuckDB when `store` is given."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = digest_paths(digest, out)
    _write_atomically(paths["md"], render_markdown(digest))
    _write_atomically(paths["json"], digest.model_dump_json(by_alias=True))
    _write_atomically(paths["html"], render_html(digest))
    if store is not None:
        store_digest(store, digest)
    return [paths["md"], paths["json"], paths["html"]]


def store_fingerprint(store: Store) -> str:
    """What the digest depends on, cheaply: changes whenever items, events or digests change."""
    with store.read() as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM items), (SELECT max(processed_at) FROM items),"
            " (SELECT count(*) FROM events), (SELECT max(updated_at) FROM events),"
            " (SELECT count(*) FROM dead_letters), (SELECT max(created_at) FROM digests)"
        ).fetchone()
    return "|".join(str(v) for v in row)


# --- Prefect ----------------------------------------------------------------------------------


def _settings(config_path: str | None) -> Settings:
    return load_settings(config_path or None)


def _store(settings: Settings) -> Store:
    return Store(settings.store.path, settings.store.lock_timeout_s)


def _retry_unless_permanent(task: Any, task_run: Any, state: Any) -> bool:
    from flows.prefect_env import retry_unless_permanent

    return retry_unless_permanent(task, task_run, state)


def _notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    from flows.prefect_env import notify_failure_hook

    notify_failure_hook(flow, flow_run, state)


@task(retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=_retry_unless_permanent)
def fingerprint_task(config_path: str | None) -> str:
    return store_fingerprint(_store(_settings(config_path)))


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=_retry_unless_permanent,
    # Keyed by window and language, plus the store fingerprint so new data invalidates it.
    cache_policy=INPUTS,
    persist_result=True,
)
def build_digest_task(
    config_path: str | None, window_end: date, days: int, lang: str | None, fingerprint: str
) -> Digest:
    settings = _settings(config_path)
    return build_digest(_store(settings), settings, window_end, days, lang)  # type: ignore[arg-type]


@task(retries=3, retry_delay_seconds=[2, 5, 15], retry_condition_fn=_retry_unless_permanent)
def write_digest_task(config_path: str | None, digest: Digest, out_dir: str | None) -> list[str]:
    settings = _settings(config_path)
    target = Path(out_dir) if out_dir else settings.digest.out_dir
    return [str(p) for p in write_digest(digest, target, store=_store(settings))]


@flow(name="daily-digest", log_prints=False, on_failure=[_notify_failure])
def daily_digest(
    window_end: date | None = None,
    days: int = 7,
    lang: Literal["zh", "en"] | None = None,
    config_path: str | None = None,
    out_dir: str | None = None,
    fail_on_empty: bool = False,
) -> list[str]:
    """Build, write and store the digest; publish its Markdown as a Prefect artifact.

    `window_end` defaults to yesterday in the digest timezone (what a morning schedule wants);
    the window is the `days` days ending on it; `lang` defaults to `digest.language`. A window
    without any event is said so in the run log and at the top of the artifact; with
    `fail_on_empty` the run then ends Failed (after writing the files).
    """
    from infra.preflight import check_path, load_checked

    logger = get_run_logger()
    if days < 1:
        raise ConfigError(f"days: must be at least 1, got {days}")
    settings = load_checked(config_path)
    check_path("out_dir" if out_dir else "digest.out_dir", Path(out_dir) if out_dir else settings.digest.out_dir,
               is_dir=True)
    if window_end is None:
        window_end = datetime.now(ZoneInfo(settings.digest.timezone)).date() - timedelta(days=1)
    fingerprint = fingerprint_task(config_path)
    digest = build_digest_task(config_path, window_end, days, lang, fingerprint)
    paths = write_digest_task(config_path, digest, out_dir)
    window = f"{digest.window.from_} .. {digest.window.to} {digest.window.timezone}"
    empty = not digest.top_events
    markdown = render_markdown(digest)
    if empty:
        note = (f"empty window {window}: {digest.stats.items_in} items published in it, {digest.stats.events} events;"
                " the digest says so (check `radar status`: did ingest and process run?)")
        logger.warning("daily-digest: %s", note)
        markdown = f"> **Empty window.** {note}\n\n{markdown}"
    else:
        logger.info("daily-digest %s (%s): %d top events, %d items in the window; wrote %s", window,
                    digest.language, len(digest.top_events), digest.stats.items_in, ", ".join(paths))
    create_markdown_artifact(
        key=f"digest-{window_end.isoformat()}-{digest.language}",
        markdown=markdown,
        description=f"Daily digest {digest.window.from_} .. {digest.window.to} ({digest.language})"
        + (" - EMPTY WINDOW" if empty else ""),
    )
    if empty and fail_on_empty:
        raise EmptyWindow(f"digest window {window} has no events (fail_on_empty)")
    return paths


class EmptyWindow(RuntimeError):
    """An empty digest window when the run was asked to fail on one."""
