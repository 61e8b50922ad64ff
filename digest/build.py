"""Assemble the digest: select events, read their items, compose every section in the window's language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from digest.content import (
    TIER_RANK,
    CategoryMix,
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
from digest.headline import event_headline
from digest.llm import polish_top_events
from digest.model import Playbook, SourceItem
from digest.read import Reader
from digest.select import (
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
from infra.config import Settings
from infra.store import Store
from schemas.digest import CategorySignal, Digest, DigestSource, DigestStats, DigestWindow, TopEvent

__all__ = ["build_digest"]


_NEVER = datetime.max.replace(tzinfo=UTC)  # an undated item sorts last


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
            # The work a research event is about is its first first-hand write-up (a lab's report, a
            # paper, an author's article on a platform), not whichever ranks highest: a later paper
            # on a neighbouring topic that joined the event is not what it is about.
            own = sorted(
                (i for i in best if i.tier in ("official", "research", "community")),
                key=lambda i: (i.published_at or _NEVER, TIER_RANK.get(i.tier, 9), i.item_id),
            )
            if own or best:
                pool.append(((own or best)[0], cand))
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
        reader = Reader(con, window)
        stats = reader.stats()
        # Only posts a valid link can be built for: see x_signal_url.
        posts = [post for post in reader.posts() if x_signal_url(post) is not None]
        papers = reader.papers()
        mentions = paper_mentions(con, window)
        research_events = [c.event_id for c in selection.ranked if c.category in research_categories()][:50]
        side_ids = {p.event_id for p in [*posts, *papers] if p.event_id}
        events = reader.events(side_ids | {c.event_id for c in selection.top})
        # Items of every ranked event too: the business analysis names them, by their headline.
        items_by_event = reader.event_items(
            [c.event_id for c in selection.top]
            + research_events
            + sorted(side_ids)
            + [c.event_id for c in selection.ranked]
        )
    # The file is free from here on.

    def headlined(cand: Candidate) -> Candidate:
        items = items_by_event.get(cand.event_id, [])
        return replace(cand, title=event_headline(cand.title, cand.category, cand.verification, items, book))

    selection = replace(
        selection, top=[headlined(c) for c in selection.top], ranked=[headlined(c) for c in selection.ranked]
    )
    events = {k: headlined(c) for k, c in events.items()}
    top_ids = {c.event_id for c in selection.top}
    top = _distinct_sources([top_event(c, items_by_event.get(c.event_id, []), book, window) for c in selection.top])
    # One page is featured once. A Top-N event's lead source stays its own; a paper clustered into a
    # Top-N event it does not lead goes to the research section and leaves that event's source list.
    lead_pages = frozenset().union(*(_source_keys(e.sources[0]) for e in top if e.sources))
    picked = pick_research(
        _research_pool(papers, selection, top_ids, items_by_event, events), window, items_by_event, mentions, lead_pages
    )
    research_pages = frozenset().union(*(paper_keys(item) for item, _ in picked))
    top = [
        e.model_copy(update={"sources": [s for s in e.sources if not _source_keys(s) & research_pages] or e.sources})
        for e in top
    ]
    if polish and settings.llm.endpoint:
        top = polish_top_events(top, items_by_event, settings.llm, language)
    authors = paper_authors(papers)
    chosen_posts = pick_posts(posts, events, items_by_event, top_ids, {c.event_id for c in selection.ranked}, authors)
    x_signals = [
        x_signal(
            p,
            events.get(p.event_id or ""),
            items_by_event.get(p.event_id or "", []),
            book,
            reason=why,
            paper=authors.get((p.author or "").strip().casefold(), "") if why == "researcher" else "",
        )
        for p, why in chosen_posts
    ]
    # A paper is described from the members of its event that are about it, not from the whole event.
    research = [
        research_highlight(
            item, event, paper_context(item, items_by_event.get(event.event_id, [])) if event else [], book, window
        )
        for item, event in picked
    ]
    mix = CategoryMix(selection.mix)
    # The business analysis names events by their headline: only events an article reports (a post on
    # X alone is discussion, and its "headline" would be the post's own words, in any language).
    others = [
        c
        for c in selection.ranked
        if c.event_id not in top_ids and any(not i.is_social for i in items_by_event.get(c.event_id, []))
    ]
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
