"""The daily digest: `build_digest` / `write_digest` (library) and the `daily_digest` Prefect flow.

Call `flows.prefect_env.configure_prefect(settings)` before importing this module: it
imports prefect, which reads its home and telemetry settings at import time.

Reading follows infra/store.py: one read-only connection gathers every row the digest
needs, then closes; prose, rendering and the optional LLM polish run with the file free.
"""

from __future__ import annotations

import json
import logging
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
    page_keys,
    paper_authors,
    paper_context,
    paper_keys,
    paper_mentions,
    pick_posts,
    pick_research,
    research_categories,
    select_events,
)
from infra.config import ConfigError, Settings, load_settings
from infra.store import Store
from schemas.digest import CategorySignal, Digest, DigestSource, DigestStats, DigestWindow, TopEvent

__all__ = ["build_digest", "daily_digest", "digest_paths", "store_digest", "write_digest"]

log = logging.getLogger(__name__)

_VERIFICATION_RANK = {"verified-by-official": 0, "corroborated": 1, "unverified": 2}

# Full rows for a handful of items picked from the narrow window table (WINDOW_ITEMS);
# the event comes from that table, which also resolved event_items-only memberships.
_ITEM_ROWS = f"""
SELECT i.item_id, w.event_id, i.source_kind, i.tier, i.publisher, i.url, i.canonical_url, i.title, i.text, i.lang,
       i.published_at, i.handle, i.item_type, i.engagement, i.duplicate_of,
       json_extract(i.record, '$.entities') AS entities, json_extract_string(i.record, '$.official_for'),
       i.updated_at, i.author,
       coalesce(json_extract(i.record, '$.categories'), json_extract(i.record, '$.paper.categories')) AS categories
FROM {WINDOW_ITEMS} w JOIN items i ON i.item_id = w.item_id
WHERE w.item_id IN (SELECT unnest($ids))
ORDER BY i.published_at, i.item_id
"""


def _json(raw: Any, kind: type) -> Any:
    if not raw:
        return kind()
    try:
        loaded = json.loads(raw)
    except ValueError:
        return kind()
    return loaded if isinstance(loaded, kind) else kind()


def _source_item(row: tuple[Any, ...]) -> SourceItem:
    entities: dict[str, Any] = _json(row[15], dict)
    return SourceItem(
        item_id=row[0], event_id=row[1], source_kind=row[2], tier=row[3], publisher=row[4], url=row[5],
        canonical_url=row[6], title=row[7] or "", text=row[8] or "", lang=row[9] or "und", published_at=row[10],
        handle=row[11], item_type=row[12], engagement=int(row[13] or 0), duplicate_of=row[14], entities=entities,
        official_for=row[16], updated_at=row[17], author=row[18],
        categories=tuple(str(c) for c in _json(row[19], list)),
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


def _research_pool(
    papers: Sequence[SourceItem],
    selection: Selection,
    top_ids: set[str],
    items_by_event: dict[str, list[SourceItem]],
    events: dict[str, Candidate],
) -> list[tuple[SourceItem, Candidate | None]]:
    """arXiv/research-tier items, plus the best article of research-category events outside the Top-N."""
    def leads(paper: SourceItem) -> bool:
        # A paper clustered into a Top-N event it does not lead (an agents paper beside a browser-agent
        # launch) is research in its own right; the event's lead is featured in the Top-N already.
        members = [i for i in order_by_tier(items_by_event.get(paper.event_id or "", [])) if not i.is_social]
        return not members or members[0].item_id == paper.item_id

    pool: list[tuple[SourceItem, Candidate | None]] = [
        (p, events.get(p.event_id or "")) for p in papers if (p.event_id or "") not in top_ids or not leads(p)
    ]
    for cand in selection.ranked:
        if cand.category in research_categories() and cand.event_id not in top_ids:
            best = [i for i in order_by_tier(items_by_event.get(cand.event_id, [])) if not i.is_social and i.link]
            if best:
                pool.append((best[0], cand))
    return pool


def _source_keys(source: DigestSource) -> frozenset[str]:
    return page_keys(source.url, source.canonical_url, source.publisher, source.title or "")


def _distinct_sources(top: list[TopEvent]) -> list[TopEvent]:
    """A page already listed under a better-ranked event is not listed again under a later one."""
    shown: set[str] = set()
    kept: list[TopEvent] = []
    for event in top:
        sources = []
        for source in event.sources:
            keys = _source_keys(source)
            if keys & shown and len(event.sources) > 1:
                continue
            shown |= keys
            sources.append(source)
        kept.append(event.model_copy(update={"sources": sources or event.sources}))
    return kept


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
        mentions = paper_mentions(con, window)
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
    top = _distinct_sources([top_event(c, items_by_event.get(c.event_id, []), book, window) for c in selection.top])
    # One page is featured once. A Top-N event's lead source stays its own; a paper clustered into a
    # Top-N event it does not lead goes to the research section and leaves that event's source list.
    lead_pages = frozenset().union(*(_source_keys(e.sources[0]) for e in top if e.sources))
    picked = pick_research(_research_pool(papers, selection, top_ids, items_by_event, events), window,
                           items_by_event, mentions, lead_pages)
    research_pages = frozenset().union(*(paper_keys(item) for item, _ in picked))
    top = [e.model_copy(update={"sources": [s for s in e.sources if not _source_keys(s) & research_pages]
                                or e.sources}) for e in top]
    if polish and settings.llm.endpoint:
        top = polish_top_events(top, items_by_event, settings.llm, language)
    authors = paper_authors(papers)
    chosen_posts = pick_posts(posts, events, items_by_event, top_ids, {c.event_id for c in selection.ranked},
                              authors)
    x_signals = [
        x_signal(p, events.get(p.event_id or ""), items_by_event.get(p.event_id or "", []), book, reason=why,
                 paper=authors.get((p.author or "").strip().casefold(), "") if why == "researcher" else "")
        for p, why in chosen_posts
    ]
    # A paper is described from the members of its event that are about it, not from the whole event.
    research = [
        research_highlight(item, event, paper_context(item, items_by_event.get(event.event_id, [])) if event else [],
                           book, window)
        for item, event in picked
    ]
    mix = CategoryMix(selection.mix)
    # The business analysis names events by their headline: only events an article reports (a post on
    # X alone is discussion, and its "headline" would be the post's own words, in any language).
    others = [c for c in selection.ranked if c.event_id not in top_ids
              and any(not i.is_social for i in items_by_event.get(c.event_id, []))]
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
