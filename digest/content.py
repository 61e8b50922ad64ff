"""Grounded, deterministic digest prose (zh and en) from the events' own items.

Every fact a sentence states (amount, date, name, count, link) is taken from an item
of the event or computed from the store; the playbooks in `digest/playbooks/*.toml`
contribute framing and judgement only. The output is plain text: escaping for
Markdown/HTML is the renderer's job, so the JSON stays readable.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from digest.facts import figures, format_value, year_range
from digest.headline import (
    HEADING_NAME,
    chinese_headline,
    localise_name,
    research_gist,
    research_kind,
    research_topics,
    short_name,
    space_cjk,
)
from digest.model import Playbook, SourceItem
from digest.select import Candidate, WindowSpec
from digest.text import clean_quote, clean_title, is_cjk, is_english_only
from schemas.digest import Digest, DigestSource, ResearchHighlight, TopEvent, XSignal
from schemas.x_urls import is_x_post_id, x_status_url

__all__ = [
    "TIER_RANK",
    "business_analysis",
    "conclusions",
    "lead_of",
    "overview",
    "research_highlight",
    "signal_reasons",
    "prose_sentences",
    "top_event",
    "unique_prose",
    "x_signal",
    "x_signal_url",
]

# Lower is stronger: whose words we quote first.
TIER_RANK = {"official": 0, "research": 1, "media": 2, "community": 3, "social": 4}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])|(?<=[。！？])")
_ARXIV_ID = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})")
_NOVELTY = re.compile(
    r"(?i)\b(we (propose|introduce|present|show|find)|novel|first|unlike|instead of|outperform|"
    r"state-of-the-art|surpass)|我们提出|首次|不同于"
)


def _clean(text: str) -> str:
    return " ".join(text.split())


def lead_of(item: SourceItem, max_chars: int = 260) -> str:
    """The first sentence or two of an item's body (its title when the body is empty).

    A feed entry read with its page (digest.read.combine_linked_pages) is led by the entry's summary.
    """
    text = _clean(item.standfirst or item.text)
    title = _clean(item.title)
    # Extracted article text often opens with a kicker and the headline again
    # ("Company OpenAI raises $122 billion … Today we're announcing …"): start after it.
    at = text.find(title) if title else -1
    if 0 <= at <= 40:
        text = text[at + len(title) :].lstrip(" :.-—|")
    if not text:
        return title
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    lead = ""
    for sentence in sentences[:2]:
        lead = f"{lead} {sentence}".strip() if lead and not lead.endswith(("。", "！", "？")) else lead + sentence
        if len(lead) >= 80:
            break
    if len(lead) > max_chars:
        cut = lead[:max_chars]
        space = cut.rfind(" ")
        lead = (cut[:space] if space > max_chars // 2 else cut).rstrip(",;:，；：") + "…"
    return lead


# A post is quoted whole: X's own limit for most accounts is 280 characters, longer posts exist; a
# cut is marked, never silent (a post's last sentence is often the author's own reading).
_POST_CHARS = 600


def post_text(post: SourceItem, max_chars: int = _POST_CHARS) -> str:
    """A post's own words, whole (its title when it has no body); a cut, past `max_chars`, ends in "…"."""
    text = clean_quote(_clean(post.text)) or clean_quote(_clean(post.title))
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars // 2 else cut).rstrip(",;:，；：") + "…"


def _local_date(moment: datetime | None, window: WindowSpec) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(window.timezone)).date().isoformat()


def order_by_tier(items: Iterable[SourceItem]) -> list[SourceItem]:
    """Strongest tier first, then earliest (the original before its rewrites)."""
    far = datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    return sorted(items, key=lambda i: (TIER_RANK.get(i.tier, 9), i.published_at or far, i.item_id))


def _usable(items: Iterable[SourceItem]) -> list[SourceItem]:
    # Exact re-sends (same URL or native id) are the same document: count them once.
    return [i for i in items if i.duplicate_of is None]


# Tiers whose articles vouch for an event's figures and can be cited as its credible sources.
_VOUCHING_TIERS = ("official", "media", "research")


def _vouched(items: Sequence[SourceItem]) -> list[SourceItem]:
    """The articles that vouch for an event: official, media and research ones, when it has any.

    A community page or a post in a credible event is one voice that may carry a claim no one else
    makes (a gossip blog's acquisition price clustered into a launch): its figures and its link are
    not the event's facts or credible sources. An event with no such article keeps every item.
    """
    strong = [i for i in items if not i.is_social and i.tier in _VOUCHING_TIERS]
    return strong or list(items)


def signal_reasons(cand: Candidate, items: Sequence[SourceItem], book: Playbook, window: WindowSpec) -> str:
    """Why the event ranks, in words: official confirmation, corroboration, social reach."""
    items = _usable(items)
    parts: list[str] = []
    official = order_by_tier(i for i in items if i.tier == "official")
    official_publishers = list(dict.fromkeys(i.publisher for i in official))
    if len(official_publishers) == 1:
        parts.append(book.text("reasons", "official", publisher=official_publishers[0]))
    elif official_publishers:
        parts.append(
            book.text("reasons", "official_many", publisher=official_publishers[0], count=len(official_publishers))
        )
    independent = [i for i in items if i.tier in ("media", "community", "research") and i.published_at]
    publishers = {i.publisher for i in independent}
    if len(publishers) == 1:
        parts.append(book.text("reasons", "corroboration_one"))
    elif publishers:
        moments = [i.published_at for i in independent if i.published_at]
        days = max(1, math.ceil((max(moments) - min(moments)).total_seconds() / 86400))
        key = "corroboration" if days > 1 else "corroboration_day"
        parts.append(book.text("reasons", key, count=len(publishers), days=days))
    social = [i for i in items if i.is_social]
    if social:
        engagement = book.number(sum(i.engagement for i in social))
        key = "social" if len(social) > 1 else "social_one"
        parts.append(book.text("reasons", key, count=len(social), engagement=engagement))
    if cand.verification == "unverified":
        parts.append(book.text("reasons", "unverified"))
    if cand.carried_over:
        parts.append(book.text("reasons", "carried", date=_local_date(cand.first_seen, window)))
    return book.label("sep").join(parts)


def labelled_facts(items: Sequence[SourceItem], book: Playbook, limit: int = 4) -> list[str]:
    """The event's figures, each once, localised and labelled ("投后估值：8520 亿美元").

    Re-sends (duplicates) count here: a Chinese re-send of the announcement often states the
    figure with the clearest context. Posts only when no article states any figure.
    """
    ordered = order_by_tier(items)
    articles = [i for i in ordered if not i.is_social]
    figs = figures(articles) or figures(ordered)
    labels = book.data.get("fact_labels", {})
    facts: list[str] = []
    years = year_range(articles or ordered)
    period = f"{years[0]}–{years[1]} 年" if years and book.lang == "zh" else (f"{years[0]}–{years[1]}" if years else "")
    for fig in figs[:limit]:
        template = labels.get(fig.key)
        if not template:
            continue  # a figure without a label a reader understands is not shown
        fact = template.format(value=format_value(fig, book.lang))
        if period and fig.key in ("investment", "funding", "trained"):
            fact, period = labels["with_period"].format(fact=fact, period=period), ""
        facts.append(fact)
    if period:
        facts.append(labels["period"].format(value=period))
    return facts


def _names(items: Sequence[SourceItem], limit: int = 6) -> list[str]:
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for rank, item in enumerate(order_by_tier(items)):
        for kind in ("organisations", "products", "people"):
            for name in item.entities.get(kind, ()) or ():
                name = _clean(str(name))
                if name:
                    counts[name] += 1
                    first.setdefault(name, rank)
    return sorted(counts, key=lambda n: (-counts[n], first[n], n))[:limit]


def key_facts(cand: Candidate, items: Sequence[SourceItem], book: Playbook, window: WindowSpec) -> list[str]:
    all_items = list(items)
    vouched = _vouched(all_items)
    items = _usable(items)
    colon = book.label("colon")
    facts = labelled_facts(vouched, book)
    lead = order_by_tier(items)[0] if items else None
    first = _local_date(cand.first_seen, window)
    facts.append(book.text("facts", "first", date=first, publisher=lead.publisher if lead else ""))
    mentioned = sorted({str(d) for i in items for d in (i.entities.get("dates", ()) or ())} - {first})
    if mentioned:
        facts.append(book.text("facts", "dates") + colon + book.join(mentioned[:3]))
    names = _names(_usable(vouched))
    if names:
        facts.append(book.text("facts", "names") + colon + book.join(names))
    facts.append(book.text("facts", "coverage", items=len(items), publishers=len({_voice(i) for i in items})))
    return facts


def _voice(item: SourceItem) -> str:
    """Who speaks through an item, for counting publishers: an organisation's blog and its own X account
    are one voice, and each X account is its own (the platform, every post's `publisher`, is none)."""
    if item.official_for:
        return item.official_for
    if item.is_social and item.handle:
        return "@" + item.handle.removeprefix("@").casefold()
    return item.publisher


def _sources(items: Sequence[SourceItem], limit: int = 4) -> list[DigestSource]:
    ordered = order_by_tier(_usable(items))
    chosen: list[SourceItem] = []
    seen: set[str] = set()
    strong = [i for i in ordered if not i.is_social and i.tier in _VOUCHING_TIERS]
    # Two vouching articles suffice; with one, posts may follow it; a community page only when the
    # event has nothing better (it is one voice, see _vouched).
    pool = strong if len(strong) >= 2 else strong + [i for i in ordered if i.is_social] if strong else ordered
    for item in pool:
        link = item.link
        if link is None or link in seen or (item.canonical_url and item.canonical_url in seen):
            continue
        seen.update(u for u in (link, item.canonical_url) if u)
        chosen.append(item)
        if len(chosen) == limit:
            break
    return [_digest_source(i) for i in chosen]


def _digest_source(item: SourceItem) -> DigestSource:
    return DigestSource(
        url=item.link or "",
        canonical_url=item.canonical_url,
        publisher=item.publisher,
        tier=item.tier,  # type: ignore[arg-type]
        published_at=item.published_at,
        title=_clean(item.title) or None,
    )


def _unsaid(parts: Iterable[str], said: str) -> list[str]:
    return [p for p in dict.fromkeys(parts) if p and p not in said]


def _composed_what(
    cand: Candidate, items: Sequence[SourceItem], lead_item: SourceItem, book: Playbook, window: WindowSpec
) -> str:
    """zh, no Chinese source and a foreign-language lead: what happened, in Chinese, from the event's facts.

    The statement is the event's composed headline (actor + action + key figure, digest.headline);
    then the labelled figures and names the sources give that it does not say, who followed it up,
    and, for a single unconfirmed source, that it is one. The foreign original stays in the sources.
    """
    date = _local_date(lead_item.published_at, window)
    document = book.text(
        "what",
        "document_post" if lead_item.is_social else "document_official" if lead_item.tier == "official" else "document",
    )
    statement = cand.title.removeprefix(book.label("rumour_prefix"))
    vouched = _vouched(items)
    names = _unsaid((n for n in _names(_usable(vouched)) if n != lead_item.publisher), statement)
    if is_english_only(statement):
        # Nothing composable: who published it and what it names, never its foreign words.
        parts = [
            book.text(
                "what",
                "composed_untitled",
                publisher=lead_item.publisher,
                date=date,
                document=document,
                names=book.join(names[:3]) or book.category_name(cand.category),
            )
        ]
        names = []
    else:
        parts = [
            book.text(
                "what", "composed", publisher=lead_item.publisher, date=date, document=document, statement=statement
            )
        ]
    said = "".join(parts)
    short = document[-2:]  # "官方公告" -> "公告": the document named again
    colon = book.label("colon")
    # A figure the statement already gives ("12 亿参数" in the headline) is not given again.
    facts = [
        space_cjk(f.replace(colon, "", 1))
        for f in labelled_facts(vouched, book)
        if f.split(colon, 1)[-1].split("（")[0] not in said
    ]
    if facts:
        parts.append(book.text("what", "composed_figures", document=short, facts=book.join(facts[:3])))
    names = [localise_name(n, book) for n in names if localise_name(n, book) not in said]
    if names:
        parts.append(book.text("what", "composed_names", document=short, names=book.join(names[:3])))
    followers = order_by_tier(
        i
        for i in _usable(items)
        if i.tier == "media" and not i.is_social and i.publisher != lead_item.publisher and i.published_at
    )
    if followers:
        first = min(i.published_at for i in followers if i.published_at)
        publishers = list(dict.fromkeys(i.publisher for i in followers))
        parts.append(
            book.text("what", "composed_follow", publishers=book.join(publishers[:3]), date=_local_date(first, window))
        )
    if cand.verification == "unverified" and len({i.publisher for i in _usable(items)}) == 1:
        parts.append(book.text("what", "composed_unverified"))
    return space_cjk(_join_sentences(parts))


def _what_happened(cand: Candidate, items: Sequence[SourceItem], book: Playbook, window: WindowSpec) -> str:
    ordered = order_by_tier(_usable(items))
    if not ordered:
        return ""
    lead_item = ordered[0]
    date = _local_date(lead_item.published_at, window)
    parts = [
        book.text(
            "what", "published", publisher=lead_item.publisher, date=date, title=clean_title(lead_item.title, 120)
        ),
    ]
    zh = [i for i in order_by_tier(items) if i.lang.startswith("zh") and not i.is_social and i.text.strip()]
    if book.lang == "zh" and not lead_item.lang.startswith("zh") and zh:
        # A Chinese reader gets a Chinese-language source's own words instead of the English
        # original (re-sends count: a translated re-send states the same facts); the original is
        # named by what it is, its English title stays in the source list.
        document = book.text("what", "document_official" if lead_item.tier == "official" else "document")
        parts = [
            book.text("what", "published_untitled", publisher=lead_item.publisher, date=date, document=document),
            book.text("what", "zh_lead", publisher=zh[0].publisher, lead=clean_quote(lead_of(zh[0]))),
        ]
        return _join_sentences(parts)
    if book.lang == "zh" and not lead_item.lang.startswith("zh"):
        return _composed_what(cand, items, lead_item, book, window)
    lead = clean_quote(lead_of(lead_item))
    if lead and lead != _clean(lead_item.title):
        parts.append(book.text("what", "lead", lead=lead))
    return _join_sentences(parts)


def _join_sentences(parts: Sequence[str]) -> str:
    """Join sentences; a space only after Latin text (Chinese punctuation carries its own spacing)."""
    out = ""
    for part in parts:
        if out and not out.endswith(("。", "！", "？", "；", "：", "」", "）")):
            out += " "
        out += part
    return out


def _facts_clause(items: Sequence[SourceItem], book: Playbook) -> str:
    facts = [f.replace(book.label("colon"), " ", 1) for f in labelled_facts(items, book, limit=3)]
    if not facts:
        return ""
    joined = book.join(facts)
    return f"关键数字：{joined}。" if book.lang == "zh" else f"Key figures: {joined}. "


def top_event(cand: Candidate, items: Sequence[SourceItem], book: Playbook, window: WindowSpec) -> TopEvent:
    reasons = signal_reasons(cand, items, book, window)
    ordered = order_by_tier(_usable(items))
    org = ordered[0].publisher if ordered else ""
    values = {
        "title": cand.title,
        "org": org,
        "reasons": reasons,
        "facts": _facts_clause(_vouched(items), book),
        "date": _local_date(cand.first_seen, window),
    }
    why = book.category(cand.category, "why", **values)
    if book.lang == "en" and why[:1].islower():
        why = why[0].upper() + why[1:]
    return TopEvent(
        id=cand.event_id,
        title=cand.title,
        category=cand.category,  # type: ignore[arg-type]
        signal_score=round(cand.signal_score, 1),
        verification=cand.verification,  # type: ignore[arg-type]
        what_happened=_what_happened(cand, items, book, window),
        key_facts=key_facts(cand, items, book, window),
        why_it_matters=why,
        implications=book.category(cand.category, "implications", **values),
        sources=_sources(items),
        carried_over=cand.carried_over,
    )


def _handle(post: SourceItem) -> str:
    handle = (post.handle or post.publisher or "").strip().lstrip("@")
    return f"@{handle}" if handle else "@unknown"


def _tweet_id(post: SourceItem) -> str:
    if is_x_post_id(post.item_id):
        return post.item_id
    match = re.search(r"/status(?:es)?/([0-9]+)", post.link or "")
    if match:
        return match.group(1)
    native = post.item_id.removeprefix("x:")
    return native if is_x_post_id(native) else post.item_id


def x_signal_url(post: SourceItem) -> str | None:
    """Where an X signal links, or None when the post cannot be one.

    A post on X links to the URL built from its handle and id, checked like X would,
    never to text pasted from the item (which may carry markup or a path). None means
    "leave it out of the X signals": the contract's `url` is required, and a post whose
    handle X could never have issued names no account a reader could look at.
    """
    if post.source_kind != "x" and not post.handle:
        # A social-tier post from another network (a feed): its own http(s) link.
        return post.link
    return x_status_url(_handle(post)[1:], _tweet_id(post))


def _x_judgment(
    post: SourceItem, kind: str, event: Candidate, event_items: Sequence[SourceItem], book: Playbook
) -> str:
    """Type, the reason for it, and how the post relates to the event's sources.

    The reason is read off the post itself: an organisation's own account, or figures the post
    repeats from the articles (same unit and value), make a judgement specific to that post.
    """
    # Figures a post "repeats" must be the event's vouched ones, not a gossip page's (see _vouched).
    articles = [i for i in order_by_tier(_vouched(event_items)) if not i.is_social]
    publisher = articles[0].publisher if articles else post.publisher
    values = {
        "event": event.title,
        "org": post.official_for or "",
        "publisher": publisher,
        "category": book.category_name(event.category),
    }
    if kind == "fact" and post.official_for:
        return book.text("x", "fact_official", **values)
    if kind == "opinion" and post.official_for:
        return book.text("x", "opinion_official", **values)
    stated = {(f.unit, f.value) for f in figures(articles)}
    labels = book.data.get("fact_labels", {})
    repeated = [
        labels[f.key].format(value=format_value(f, book.lang)).replace(book.label("colon"), " ", 1)
        for f in figures([post])
        if (f.unit, f.value) in stated and f.key in labels
    ]
    if repeated:
        return book.text("x", f"{kind}_figures", figures=book.join(repeated[:2]), **values)
    return book.text("x", kind, **values)


def _x_reason(
    post: SourceItem,
    kind: str,
    reason: str,
    event: Candidate,
    event_items: Sequence[SourceItem],
    book: Playbook,
    paper: str = "",
) -> str:
    """Why the post was picked (digest.select.pick_posts), said with the post's own particulars."""
    if reason not in ("official", "researcher", "first_report", "reach") or (reason == "official" and kind == "fact"):
        return ""  # a rumour has its own judgement; an official fact post's judgement names its source
    dated = [i.published_at for i in event_items if i.published_at is not None]
    hours = 0
    if dated and post.published_at is not None:
        hours = math.ceil((post.published_at - min(dated)).total_seconds() / 3600)
    key = "why_first_report_first" if reason == "first_report" and hours <= 0 else f"why_{reason}"
    return book.text(
        "x",
        key,
        handle=_handle(post),
        author=post.author or _handle(post),
        org=post.official_for or "",
        event=event.title,
        hours=max(1, hours),
        engagement=book.number(post.engagement),
        paper=clean_title(paper, 120),
    )


def x_signal(
    post: SourceItem,
    event: Candidate | None,
    event_items: Sequence[SourceItem],
    book: Playbook,
    reason: str = "",
    paper: str = "",
) -> XSignal:
    """A post on X with its type, the verification of its event, and a one-line judgement.

    `reason` is why the post was picked (pick_posts): said first, then the type and its reading. A
    researcher's post (`paper`: the title of their paper) is checked against the paper, not the event.
    """
    verification = event.verification if event is not None else "unverified"
    kind = post.item_type if post.item_type in ("fact", "trend", "opinion") else "opinion"
    if event is None:
        judgment = book.text("x", "loose")
    elif verification == "unverified":
        judgment = book.text("x", "unverified")
    else:
        why = _x_reason(post, kind, reason, event, event_items, book, paper)
        # The researcher's reason already says where to check the post: the paper, not the event.
        judgment = (
            why
            if reason == "researcher" and paper
            else _join_sentences(
                [why, _x_judgment(post, kind, event, event_items, book)]
                if why
                else [_x_judgment(post, kind, event, event_items, book)]
            )
        )
    sources = [_digest_source(post)] if post.link else []
    backing = [i for i in order_by_tier(_usable(event_items)) if not i.is_social and i.link]
    if backing and verification != "unverified":
        sources.append(_digest_source(backing[0]))
    link = x_signal_url(post)
    if link is None:
        raise ValueError(f"post {post.item_id!r} has no valid X handle and id; filter with x_signal_url")
    return XSignal(
        handle=_handle(post),
        url=link,
        tweet_id=_tweet_id(post),
        type=kind,  # type: ignore[arg-type]
        verification=verification,  # type: ignore[arg-type]
        judgment=judgment,
        sources=sources,
        text=post_text(post),
        event_title=event.title if event is not None else None,
    )


def x_verification_text(signal: XSignal, book: Playbook) -> str:
    if signal.event_title is None:
        return book.text("x", "verification_loose")
    return book.text(
        "x", "verification_event", verification=book.text("verification", signal.verification), event=signal.event_title
    )


# A line this short without closing punctuation, in a text of several lines, is a heading or a
# kicker ("One model, many scripts", "Community Article"); a hard-wrapped abstract's lines are longer.
_HEADING_CHARS = 60
_CLOSING = (".", "!", "?", ":", ";", ",", "。", "！", "？", "：", "；", "，", "、", "”", '"', ")", "）")


def _sentences(text: str) -> list[str]:
    lines = [_clean(line) for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        # An article's subheadings are no sentences, nor part of the paragraph below them.
        lines = [line for line in lines if len(line) > _HEADING_CHARS or line.endswith(_CLOSING)]
    return [s.strip() for s in _SENTENCE_END.split(" ".join(lines)) if s.strip()]


def research_highlight(
    item: SourceItem,
    event: Candidate | None,
    event_items: Sequence[SourceItem],
    book: Playbook,
    window: WindowSpec,
) -> ResearchHighlight:
    """What a paper (or technical report) did, what is new, where it applies, and a judgement."""
    lead = lead_of(item)
    title = _clean(item.title)
    # Line breaks kept: _sentences ends a sentence at one.
    body = "\n".join(_clean(line) for line in item.text.strip().splitlines())
    if title and body.startswith(title):
        body = body[len(title) :]
    sentences = _sentences(body)
    contribution = next((s for s in sentences if _NOVELTY.search(s)), "")
    if contribution and not _NOVELTY.search(lead) and (item.source_kind == "arxiv" or item.tier == "research"):
        # An abstract that opens with its background ("Agents are increasingly deployed on …"): what
        # the paper did is its first claim ("We introduce a benchmark of 212 …"), not the context.
        lead = contribution if len(contribution) <= 300 else contribution[:299].rstrip() + "…"
        # What is new comes after the claim; the background before it is no novelty.
        sentences = sentences[sentences.index(contribution) :]
    date = _local_date(item.published_at, window)
    is_paper = item.source_kind == "arxiv" or item.tier == "research"
    # Somebody else's article on a platform's blog (a source's guest_categories) is the platform's
    # community's, not the platform's own report.
    publisher = (
        book.text("research", "community_publisher", publisher=item.publisher)
        if item.tier == "community" and not is_paper
        else item.publisher
    )
    updated = (
        item.updated_at is not None
        and item.published_at is not None
        and item.updated_at > item.published_at
        and window.start <= item.updated_at < window.end
    )
    if is_paper and updated:
        # A new version inside the window: report it as updated then (the reference digest's wording).
        what = book.text(
            "research", "what_updated", date=_local_date(item.updated_at, window), publisher=publisher, lead=lead
        )
    else:
        what = book.text("research", "what" if is_paper else "what_report", date=date, publisher=publisher, lead=lead)
    zh = [i for i in order_by_tier(event_items) if i.lang.startswith("zh") and not i.is_social and i.text.strip()]
    abstract = _clean(item.text)
    kind = (
        "report"
        if not is_paper
        else research_kind(title, abstract[len(title) :] if abstract.startswith(title) else abstract)
    )
    # A lab's technical report too: its English opening is no more Chinese than an abstract.
    composed = book.lang == "zh" and not item.lang.startswith("zh") and not zh
    if book.lang == "zh" and not item.lang.startswith("zh") and zh:
        # As for Top-N events: a Chinese source's own words over the English abstract.
        zh_lead = book.text("what", "zh_lead", publisher=zh[0].publisher, lead=clean_quote(lead_of(zh[0])))
        what = _join_sentences([what.split("：", 1)[0] + "。", zh_lead])
    elif composed:
        # No Chinese source: say in Chinese what kind of work it is and what about, rather than
        # quote the English abstract (the abstract's key sentence follows as "新在哪里", marked a quote).
        topics = research_topics(f"{title} {lead}", book)
        what = book.text(
            "research",
            "what_composed" if is_paper else "what_report_composed",
            date=_local_date(item.updated_at if updated else item.published_at, window),
            verb=book.text("research", "verb_updated" if updated else "verb_submitted"),
            publisher=publisher,
            noun=book.data["research"]["kinds"][kind].get("noun", ""),
            title=clean_title(title, 200),
            topics=book.text("research", "topics_clause", topics=book.join(topics[:3])) if topics else "",
        )
    rest = [s for s in sentences if s not in lead]
    if composed and not rest:
        rest = sentences[:1]  # "what" quoted nothing: the abstract's opening is what there is to quote
    novelty = next((s for s in rest if _NOVELTY.search(s)), rest[0] if rest else "")
    if len(novelty) > 300:
        novelty = novelty[:299].rstrip() + "…"
    if composed:
        # In Chinese from the abstract's own claims, not its English words; no claim the table knows:
        # the kind of work is what is new about it (below), as for a paper that says nothing more.
        claims = _claims(abstract, book)
        novelty = (
            book.text("research", "novelty_composed", claims=book.text("research", "claims_sep").join(claims))
            if claims
            else ""
        )
    products = [str(p) for p in item.entities.get("products", ()) or () if str(p).strip()]
    name = products[0] if not is_paper and products else short_name(title)
    heading_name = products[0] if not is_paper and products else short_name(title, HEADING_NAME)
    shown_title = clean_title(title, 160)
    if book.lang == "zh":
        # A Chinese member's headline, when the event has one; else an English title gets a Chinese
        # gist beside its short name (the full title stays in "what" or the source list).
        shown_title = chinese_headline([item, *event_items]) or (
            # A lab's report is its event's news: the event's Chinese headline names it best.
            event.title
            if event is not None and not is_paper and not is_english_only(event.title)
            else space_cjk(f"{heading_name}：{research_gist(title, lead, book, kind)}")
            if not is_cjk(shown_title)
            else shown_title
        )
    kind_book = book.data["research"]["kinds"][kind]
    # Applications from what the paper is about (its title and opening), not every word of its
    # body: an agents benchmark that mentions "documentation" is no OCR paper.
    about = f"{title} {lead}"
    applications = [kind_book["applications"]] if "applications" in kind_book else []
    applications += [
        text for pattern, text in book.data["research"]["applications"].items() if re.search(pattern, about, re.I)
    ]
    # A lab's own write-up is its event's official confirmation: with its page and feed entry read
    # as one item (digest.read.combine_linked_pages), no other member of the event says so.
    voices = [item, *event_items] if not is_paper and item.tier == "official" else event_items
    reasons = signal_reasons(event, voices, book, window) if event is not None else ""
    kind_text = book.text(f"research.kinds.{kind}", "judgement", name=name, publisher=publisher)
    judgment = book.text("research", "judgement", kind=kind_text, reasons=reasons) if reasons else kind_text
    if book.lang == "zh" and is_english_only(novelty):
        # An English report read with its page has sentences beyond its lead; a Chinese reader gets
        # none of them as "新在哪里" (the original stays in the sources), but the kind of work below.
        novelty = ""
    if not novelty:
        # Nothing beyond the lead: the kind of work is what is new about it, said once.
        novelty = kind_text
        judgment = (
            book.text("research", "judgement", kind="", reasons=reasons).strip()
            if reasons
            else book.text("research", "judgement_quiet", name=name)
        )
    arxiv = _ARXIV_ID.search(item.link or "") or _ARXIV_ID.search(item.canonical_url or "")
    arxiv_id = arxiv.group(1) if arxiv else (item.item_id if item.source_kind == "arxiv" else None)
    return ResearchHighlight(
        title=shown_title,
        url=item.link or "",
        arxiv_id=arxiv_id,
        what=what,
        novelty=novelty,
        applications=book.join(list(dict.fromkeys(applications))[:3])
        if applications
        else book.text("research", "applications_fallback"),
        judgment=judgment,
    )


_MAX_CLAIMS = 4
_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
}
_SCALED = re.compile(r"(?i)^([\d.]+)([kmb])$")
_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9}


def _zh_number(text: str) -> str | None:
    """A number from an abstract as a Chinese reader writes it ("six" -> "6", "400M" -> "4 亿",
    "2.1-3.4x" -> "2.1–3.4 倍"); None when it is no number."""
    text = text.strip().replace(",", "")
    if text.lower() in _NUMBER_WORDS:
        return _NUMBER_WORDS[text.lower()]
    scaled = _SCALED.match(text)
    if scaled:
        value = float(scaled.group(1)) * _SCALE[scaled.group(2).lower()]
        for scale, word in ((1e8, "亿"), (1e4, "万")):
            if value >= scale:
                return f"{value / scale:.6g} {word}"
        return f"{value:.6g}"
    if text.lower().endswith("x"):
        return f"{text[:-1].replace('-', '–')} 倍" if re.fullmatch(r"[\d.]+(?:[-–][\d.]+)?", text[:-1]) else None
    return text.replace("-", "–") if re.fullmatch(r"[\d.]+(?:[-–][\d.]+)?%?", text) else None


def _claims(abstract: str, book: Playbook) -> list[str]:
    """What an English abstract claims, in Chinese clauses (playbook [[research.claims]]), in table order.

    A rule is used only when every slot fills: numbers are rewritten (_zh_number), and a `what` must
    have a Chinese word in [research.claim_words]; so no English phrase and nothing unstated is added."""
    words: dict[str, str] = book.data["research"].get("claim_words", {})
    found: list[str] = []
    for rule in book.data["research"].get("claims", []):
        for match in re.finditer(rule["pattern"], abstract, re.I):
            slots: dict[str, str] = {}
            for name, value in match.groupdict().items():
                if value is None:
                    continue
                filled = words.get(" ".join(value.lower().split())) if name == "what" else _zh_number(value)
                if filled is None:
                    break
                slots[name] = filled
            else:
                if all(slots.get(n) for n in re.findall(r"\{(\w+)\}", rule["template"])):
                    found.append(rule["template"].format(**slots))
                    break  # one clause per rule: the first place the abstract says it
    return list(dict.fromkeys(found))[:_MAX_CLAIMS]


@dataclass(frozen=True)
class CategoryMix:
    """Eligible events and summed signal per category over the window, strongest first."""

    rows: list[tuple[str, int, float]]

    @classmethod
    def of(cls, candidates: Sequence[Candidate]) -> CategoryMix:
        events: Counter[str] = Counter()
        signal: Counter[str] = Counter()
        for c in candidates:
            events[c.category] += 1
            signal[c.category] += c.signal_score
        rows = sorted(((k, events[k], signal[k]) for k in events), key=lambda r: (-r[2], r[0]))
        return cls(rows)


def overview(
    top: Sequence[TopEvent],
    mix: CategoryMix,
    window: WindowSpec,
    stats: dict[str, int],
    book: Playbook,
) -> str:
    """Two or three paragraphs: the window in numbers, the category mix, the leading events, a reading."""
    first = book.text(
        "overview",
        "window",
        **{"from": window.from_.isoformat()},
        to=window.to.isoformat(),
        timezone=window.timezone,
        items_in=stats["items_in"],
        events=stats["events"],
    )
    if not top:
        return book.text("overview", "empty") + ("" if book.lang == "zh" else " ") + first
    cats = [
        f"{book.category_name(c)}（{n}）" if book.lang == "zh" else f"{book.category_name(c)} ({n})"
        for c, n, _ in mix.rows[:3]
    ]
    sep = "" if book.lang == "zh" else " "
    para1 = sep.join(
        [
            first,
            book.text("overview", "mix", categories=book.join(cats)),
            book.text("overview", "top", events=book.join(book.quote(t.title) for t in top[:3])),
        ]
    )
    carried = sum(1 for t in top if t.carried_over)
    counts = Counter(t.verification for t in top)
    para2_parts = [
        book.text(
            "overview",
            "verification",
            count=len(top),
            official=counts["verified-by-official"],
            corroborated=counts["corroborated"],
            unverified=counts["unverified"],
        )
    ]
    if carried:
        para2_parts.append(book.text("overview", "carry", count=carried))
    para3 = book.text("overview", "judgement", judgement=book.category(top[0].category, "judgement"))
    return "\n\n".join([para1, sep.join(para2_parts), para3])


def conclusions(
    top: Sequence[TopEvent], research_count: int, book: Playbook, stats: dict[str, int] | None = None
) -> list[str]:
    """Exactly three, all different: one per leading category of the Top-N, then distinct fillers.

    An empty window says so once and gives the numbers, instead of three copies of one filler.
    """
    numbers = {"items_in": 0, "events": 0, **(stats or {})}
    if not top:
        return [
            book.text("conclusions", "empty"),
            book.text("conclusions", "empty_stats", **numbers),
            book.text("conclusions", "empty_next"),
        ]
    found: list[str] = []
    seen: set[str] = set()
    for event in top:
        # A thin window can leave a rumour in the Top list (flagged there); a conclusion drawn from it
        # would state a trend on one unconfirmed post.
        if event.category in seen or event.verification == "unverified":
            continue
        seen.add(event.category)
        found.append(book.category(event.category, "conclusion", title=book.quote(event.title)))
        if len(found) == 3:
            return found
    official = sum(1 for t in top if t.verification == "verified-by-official")
    fillers = [book.text("conclusions", "verification", official=official)]
    if research_count:
        fillers.append(book.text("conclusions", "research", count=research_count))
    fillers += [book.text("conclusions", "window", count=len(top), **numbers), book.text("conclusions", "quiet")]
    for filler in fillers:
        if len(found) < 3 and filler not in found:
            found.append(filler)
    return found[:3]


def business_analysis(
    top: Sequence[TopEvent], others: Sequence[Candidate], book: Playbook, max_paragraphs: int = 4
) -> str:
    """A paragraph per leading category: its events (Top-N first, then the rest of the week)."""
    by_category: dict[str, list[str]] = {}
    for event in top:
        if event.verification != "unverified":  # as for the rest of the week: no reading of a rumour
            by_category.setdefault(event.category, []).append(event.title)
    for cand in others:
        if cand.verification != "unverified" and cand.category != "research":
            titles = by_category.setdefault(cand.category, [])
            if cand.title not in titles and len(titles) < 3:
                titles.append(cand.title)
    paragraphs = [
        book.category(category, "business", events=book.join(book.quote(t) for t in titles[:3]))
        for category, titles in list(by_category.items())[:max_paragraphs]
    ]
    return "\n\n".join(paragraphs) if paragraphs else book.label("none")


_SENTENCE_SPLIT = re.compile(r"(?<=[。！？])|(?<=[.!?])\s+(?=[A-Z0-9“\"「(])")


def prose_sentences(text: str) -> list[str]:
    """The sentences of a prose field, as the no-repeat rule counts them."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(_clean(text)) if s.strip()]


def unique_prose(digest: Digest, book: Playbook) -> Digest:
    """Drop every sentence a reader already read earlier in the same digest.

    Playbook framing is per category, so two events of one category, or two papers of one kind,
    would otherwise say the same sentence twice. Fields are walked in reading order; the first
    occurrence stays. A field left empty points back to the item that said it.
    """
    seen: set[str] = set()

    def keep(text: str) -> str:
        paragraphs = []
        for paragraph in re.split(r"\n\s*\n", text):
            kept = []
            for sentence in prose_sentences(paragraph):
                key = sentence.rstrip("。.!！?？;；").strip()
                if key in seen:
                    continue
                seen.add(key)
                kept.append(sentence)
            if kept:
                paragraphs.append(_join_sentences(kept))
        joined = "\n\n".join(paragraphs)
        # zh: the space Chinese typesetting wants between Chinese and Latin text ("端侧 AI 方向").
        return space_cjk(joined) if book.lang == "zh" else joined

    overview_text = keep(digest.overview)
    conclusions_list = [keep(c) or c for c in digest.conclusions]
    events: list[TopEvent] = []
    first_of: dict[str, str] = {}
    for event in digest.top_events:
        see_above = book.text("labels", "see_above", title=book.quote(first_of.get(event.category, "")))
        what = keep(event.what_happened)
        why = keep(event.why_it_matters) or see_above
        implications = keep(event.implications) or see_above
        first_of.setdefault(event.category, event.title)
        events.append(
            event.model_copy(update={"what_happened": what, "why_it_matters": why, "implications": implications})
        )
    signals = [s.model_copy(update={"judgment": keep(s.judgment) or s.judgment}) for s in digest.x_signals]
    used: set[str] = set()
    papers = []
    for r in digest.research:
        # Applications are a list of directions: a later paper lists only the ones not named yet.
        phrases = [p.strip() for p in r.applications.split(book.label("list_sep")) if p.strip()]
        fallback = book.text("research", "applications_fallback")
        fresh = [p for p in phrases if p not in used] or ([fallback] if fallback not in used else phrases)
        used.update(fresh)
        papers.append(
            r.model_copy(
                update={
                    "what": keep(r.what) or r.what,
                    "novelty": keep(r.novelty),
                    "applications": book.join(fresh),
                    "judgment": keep(r.judgment),
                }
            )
        )
    business = keep(digest.business_analysis) or digest.business_analysis
    return digest.model_copy(
        update={
            "overview": overview_text or digest.overview,
            "conclusions": conclusions_list,
            "top_events": events,
            "x_signals": signals,
            "research": papers,
            "business_analysis": business,
        }
    )
