"""Event headlines in the digest's language, without an LLM, from the event's own sources.

zh: the headline a Chinese-language member of the event wrote, when one exists (its words,
cleaned); otherwise one composed from extracted facts, actor + action + key figure
("微软宣布 2026–2029 年在日本投资 100 亿美元"), with the action chosen by the phrase table of
`digest/playbooks/zh.toml` [headline]: per category, an ordered list of (pattern, template); the
first rule whose pattern matches the lead source and whose placeholders can all be filled wins.
The name the lead headline opens with ("Project Mariner comes to …", "Llama 4.5 Mini brings …") is
the event's product before the names the extractor counted, which may be the platform it lands on.
An event that only X posts carry is headed by who posted and what about ("谷歌官方账号评论 Gemma 4"),
never by a post's opening words; an event a paper leads, by the paper's short name and a Chinese gist
of what kind of work it is ("Action Images：机器人控制、视频生成方向的新方法").
en: the event's own (English) title, cleaned of links, emoji and trailing fragments.
Every slot of a template is filled from the sources (names, figures, years, places), so a
composed headline states nothing the sources do not.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

from digest.facts import figures, format_value, year_range
from digest.model import PLAYBOOK_DIR, Playbook, SourceItem
from digest.text import clean_title, is_cjk, is_english_only, sentences

__all__ = [
    "HEADING_NAME",
    "chinese_headline",
    "event_headline",
    "localise_name",
    "research_gist",
    "research_kind",
    "research_topics",
    "short_name",
    "space_cjk",
    "space_mixed",
]

_TIER = {"official": 0, "research": 1, "media": 2, "community": 3, "social": 4}
_SLOT = re.compile(r"\{(\w+)\}")
_CJK = r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]"
_MAX_ZH = 56
_SUBTITLE_AT = 40
_MAX_GROUP = 40
HEADING_NAME = 60  # a paper's name in a heading: its title up to the colon, at most this long
# Words a headline or post opens with before the name it is about: a launch word ("Introducing
# Nemotron OCR v2") or any verb form ending -ing/-ed ("Hearing GPT-6 ships …", "Trusted access …").
_LEAD_VERB = re.compile(r"^(?:(?i:meet|say hello to|welcome)|[A-Z][\w-]*(?:ing|ed))\s+")
# A name as headlines write it: capitalised or numbered tokens ("Project Mariner", "Llama 4.5 Mini", "v2").
_NAME = r"(?:[A-Z0-9][\w.+-]*|v\d[\w.]*)"
_SUBJECT = re.compile(rf"^{_NAME}(?:\s+{_NAME}){{0,4}}")
_MARKED_NAME = re.compile(r"\d|[a-z][A-Z]|[A-Za-z]-[A-Za-z0-9]")


def space_cjk(text: str) -> str:
    """Only add the space Chinese typesetting puts between Chinese and Latin letters or digits."""
    text = re.sub(r"([\u3400-\u9fff])(?=[A-Za-z0-9])", r"\1 ", text)
    return re.sub(r"([A-Za-z0-9%])(?=[\u3400-\u9fff])", r"\1 ", text)


def space_mixed(text: str) -> str:
    """Chinese typesetting: a space between Chinese and Latin/digits, none between Chinese characters."""
    text = " ".join(text.split())
    text = re.sub(rf"({_CJK})\s+(?={_CJK})", r"\1", text)
    text = re.sub(r"([\u3400-\u9fff])(?=[A-Za-z0-9$])", r"\1 ", text)
    text = re.sub(r"([A-Za-z0-9%$+])(?=[\u3400-\u9fff])", r"\1 ", text)
    # No space next to full-width punctuation.
    text = re.sub(r"\s*([，。：；、！？（）「」])\s*", r"\1", text)
    return text.strip()


def localise_name(name: str, book: Playbook) -> str:
    """A company, place or foundation name as a Chinese reader knows it ("Microsoft" -> "微软")."""
    names: dict[str, str] = book.data.get("names", {})
    if name in names:
        return names[name]
    for suffix, word in book.data.get("name_suffixes", {}).items():
        if name.endswith(f" {suffix}"):
            return f"{name[: -len(suffix) - 1]} {word}"
    return name


def _ordered(items: Sequence[SourceItem]) -> list[SourceItem]:
    return sorted(items, key=lambda i: (_TIER.get(i.tier, 9), i.published_at is None, i.published_at, i.item_id))


def chinese_headline(items: Sequence[SourceItem]) -> str | None:
    """The headline of the strongest Chinese-language, non-social member (re-sends count: same words)."""
    for item in _ordered(items):
        if item.is_social or not item.lang.startswith("zh"):
            continue
        title = clean_title(item.title, max_chars=80)
        if not is_cjk(title):
            continue
        if len(title) > _SUBTITLE_AT and "：" in title:
            # "主标题：副标题": a digest headline is the main title, unless the part before the colon
            # is a hook that names no one ("Codex 不只写代码了：OpenAI 发布 …") and the part after it
            # names who acted.
            head, tail = title.split("：", 1)
            if len(tail) >= 10 and _names_an_organisation(tail, item) and not _names_an_organisation(head, item):
                title = tail
            else:
                title = head if len(head) >= 10 else title
        if len(title) > _MAX_ZH:
            # Still long: keep the main clause ("…投资 100 亿美元，加码 …" -> its first part).
            head = re.split(r"[，；]", title, maxsplit=1)[0]
            title = head if len(head) >= 10 else title[:_MAX_ZH].rstrip("，、：；") + "…"
        return space_mixed(title)
    return None


def _names_an_organisation(text: str, item: SourceItem) -> bool:
    """Whether `text` names one of the organisations the item names, as written or as a Chinese
    reader knows it ("NVIDIA" or "英伟达")."""
    zh = Playbook.load("zh")
    named = [" ".join(str(o).split()) for o in item.entities.get("organisations", ()) or ()]
    return any(o and (o in text or localise_name(o, zh) in text) for o in named)


def _actor(items: Sequence[SourceItem], book: Playbook) -> str:
    """Who acted: the organisation behind the event's official source, or "" when it has none.

    Only a first-hand source says who did what: an organisation merely named by an article or a
    post ("… running on Apple silicon") is no actor, so without an official source there is none.
    """
    official = [i for i in _ordered(items) if i.tier == "official" or i.official_for]
    if not official:
        return ""
    lead = official[0]
    if lead.official_for:
        return localise_name(lead.official_for, book)  # an organisation's own account speaks for it
    named = [" ".join(str(o).split()) for o in lead.entities.get("organisations", ()) or ()]
    if lead.publisher in named:
        return localise_name(lead.publisher, book)  # "Hugging Face" on its own blog
    head = f"{lead.title} {lead.text[:200]}"
    # The organisation the official source names first in its own opening, else the first it names
    # at all, else its publisher.
    for org in sorted((o for o in named if o and o in head), key=head.find):
        return localise_name(org, book)
    return localise_name(named[0] if named else lead.publisher, book)


def _title_subject(lead: SourceItem | None, named: Sequence[str], products: Sequence[str], corpus: str = "") -> str:
    """The name the lead headline (a post: its text) opens with, or "" when it opens with no name.

    "Project Mariner comes to the Gemini API" -> "Project Mariner"; "Llama 4.5 Mini brings …" ->
    "Llama 4.5 Mini" (fuller than the extractor's "Llama 4.5"). Not a name: an organisation opening
    its own news ("OpenAI Raises …"), a run with a known product inside it ("Hearing GPT-6 ships …":
    the product is the name), or one capitalised word ("Trusted access for …") unless the extractor
    knows it as a product, it is marked as a name by a digit, inner capital or hyphen, or the event's
    sources (`corpus`) write it at least twice and never in lowercase, as they write a name ("Codex").
    """
    if lead is None:
        return ""
    head = _LEAD_VERB.sub("", clean_title(lead.title or lead.text, max_chars=160))
    match = _SUBJECT.match(head)
    if match is None:
        return ""
    subject = match.group(0).rstrip(".:")
    folded = subject.casefold()
    known = [p for p in products if folded == p.casefold() or folded.startswith(p.casefold() + " ")]
    if known:
        return subject
    if any(p.casefold() in folded for p in products):
        return ""
    words = subject.split()
    if any(folded == n.casefold() or folded.startswith(n.casefold() + " ") for n in named if n):
        return ""  # "OpenAI Raises …": the organisation is the actor, the rest is its verb
    title_case = sum(1 for w in head.split() if w[:1].isupper()) > 0.6 * max(1, len(head.split()))
    if len(words) >= 2 and not title_case:
        return subject
    if len(words) != 1:
        return ""
    if _MARKED_NAME.search(subject):
        return subject
    word = re.escape(subject)
    proper = (
        len(re.findall(rf"\b{word}\b", corpus)) >= 2 and re.search(rf"\b{re.escape(subject.lower())}\b", corpus) is None
    )
    return subject if proper else ""


def _products(items: Sequence[SourceItem], actor: str, named: Sequence[str] = ()) -> list[str]:
    """Products the sources name: the lead headline's subject first, then the most named; on a tie,
    the one the lead headline names first."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    ordered_items = _ordered(items)
    lead = ordered_items[0] if ordered_items else None
    headline = lead.title if lead else ""
    for rank, item in enumerate(ordered_items):
        for product in item.entities.get("products", ()) or ():
            product = " ".join(str(product).split())
            if product and product != actor:
                counts[product] += 1
                first.setdefault(product, rank)

    def position(p: str) -> int:
        at = headline.find(p)
        return at if at >= 0 else len(headline) + 1

    ordered = sorted(counts, key=lambda p: (-counts[p], first[p], position(p), p))
    corpus = "\n".join(f"{i.title}\n{i.text}" for i in ordered_items)
    subject = _title_subject(lead, [actor, *named], ordered, corpus)
    if subject and subject != actor:
        ordered = [subject, *(p for p in ordered if p != subject)]
    # "Microsoft 365 Copilot" and "Copilot" are one product: keep the fuller name.
    return [p for p in ordered if not any(p != q and p in q for q in ordered)]


def _slots(items: Sequence[SourceItem], category: str, book: Playbook) -> dict[str, str]:
    ordered = [i for i in _ordered(items) if not i.is_social] or _ordered(items)
    actor = _actor(items, book)
    slots: dict[str, str] = {"actor": actor}
    named = [" ".join(str(o).split()) for i in items for o in i.entities.get("organisations", ()) or ()]
    products = _products(items, actor, [*named, *(i.publisher for i in items)])
    if products:
        slots["product"] = products[0]
    if len(products) > 1:
        slots["product2"] = products[1]
    figs = figures(ordered)
    money = [f for f in figs if f.unit in ("USD", "CNY", "EUR", "JPY")]
    if money:
        slots["amount"] = format_value(money[0], "zh")
    for fig in figs:
        slots[f"fig_{fig.key}"] = format_value(fig, "zh")
    years = year_range(ordered)
    if years:
        slots["period"] = f"{years[0]}–{years[1]} 年"
    lead_text = _lead_text(ordered)
    for place, word in book.data.get("places", {}).items():
        if re.search(rf"\b{re.escape(place)}\b", lead_text):
            slots["place"] = word
            break
    return slots


def _lead_text(items: Sequence[SourceItem]) -> str:
    lead = items[0] if items else None
    return f"{lead.title}. {lead.text[:400]}" if lead else ""


def _fill(template: str, slots: dict[str, str]) -> str | None:
    needed = _SLOT.findall(template)
    if any(not slots.get(n) for n in needed):
        return None
    return template.format(**slots)


def _compose(items: Sequence[SourceItem], category: str, book: Playbook) -> str | None:
    rules: dict[str, Any] = book.data.get("headline", {})
    slots = _slots(items, category, book)
    if not slots["actor"]:
        return None
    lead = [i for i in _ordered(items) if not i.is_social] or _ordered(items)
    haystack = _lead_text(lead)
    for pattern, template in [*rules.get(category, []), *rules.get("any", [])]:
        match = re.search(pattern, haystack, re.I)
        if match is None:
            continue  # no action word in the source: nothing to say it did
        groups = {}
        if match is not None:
            groups = {
                k: localise_name(" ".join(v.split()), book)
                for k, v in match.groupdict().items()
                if v and len(v) <= _MAX_GROUP
            }
        text = _fill(template, {**slots, **groups})
        if text:
            return space_mixed(text)
    return None


@cache
def _research_tables() -> tuple[dict[str, re.Pattern[str]], re.Pattern[str], re.Pattern[str]]:
    with (PLAYBOOK_DIR / "facts.toml").open("rb") as fh:
        data = tomllib.load(fh)
    kinds = {k: re.compile(p, re.I) for k, p in data.get("research_kinds", {}).items()}
    contribution = data["research_contribution"]
    return kinds, re.compile(contribution["verbs"], re.I), re.compile(contribution["usage"], re.I)


_CLAUSE = re.compile(r"[,;:，；：]")


def _contribution_spans(sentence: str, verbs: re.Pattern[str]) -> list[tuple[int, int]]:
    """The clauses of a sentence in which the paper says what it contributes ("We introduce a benchmark of …")."""
    spans = []
    for verb in verbs.finditer(sentence):
        stop = _CLAUSE.search(sentence, verb.end())
        spans.append((verb.start(), stop.start() if stop else len(sentence)))
    return spans


def research_kind(title: str, abstract: str = "") -> str:
    """What kind of research a paper is (facts.toml [research_kinds]), else "method".

    Where a kind's word stands decides (facts.toml explains the order): a contribution the first
    sentence states, the title, a contribution stated later, any other mention in the first sentence,
    later mentions. "We introduce a benchmark" makes a benchmark paper; "leaving short-context
    benchmarks unchanged" does not: outside the title and a contribution, a plural benchmark or dataset
    word is what the paper was evaluated on.
    """
    kinds, verbs, usage = _research_tables()
    best: tuple[int, int, str] | None = None
    places: list[tuple[str, bool, bool]] = [(title, True, False)]  # (text, is title, is first sentence)
    places += [(s, False, n == 0) for n, s in enumerate(sentences(abstract))]
    for text, is_title, first in places:
        spans = [] if is_title else _contribution_spans(text, verbs)
        for order, (kind, pattern) in enumerate(kinds.items()):
            for match in pattern.finditer(text):
                contributed = any(a <= match.start() < b for a, b in spans)
                if is_title:
                    rank = 1
                elif contributed:
                    rank = 0 if first else 2
                elif usage.match(text, match.start()):
                    continue  # what the paper was evaluated on, not what it offers
                else:
                    rank = 3 if first else 4
                if best is None or (rank, order) < best[:2]:
                    best = (rank, order, kind)
    return best[2] if best else "method"


def short_name(title: str, max_chars: int = 40) -> str:
    """What a paper is called in a sentence: the part before its colon, or its first words."""
    head = title.split(":", 1)[0].strip()
    if 2 <= len(head) <= max_chars:
        return head
    if max_chars > 40:
        cut = head[:max_chars].rsplit(" ", 1)[0]
        return cut + ("…" if len(cut) < len(head) else "")
    words = title.split()
    return " ".join(words[:6]) + ("…" if len(words) > 6 else "")


def research_topics(about: str, book: Playbook) -> list[str]:
    """The topics (playbook [research.topics]) a paper's title and opening name, in table order.

    What the paper was evaluated on ("short-context benchmarks") is no topic of it (see research_kind)."""
    about = _research_tables()[2].sub(" ", about)
    found = [
        text for pattern, text in book.data["research"].get("topics", {}).items() if re.search(pattern, about, re.I)
    ]
    return list(dict.fromkeys(found))


def research_gist(title: str, about: str, book: Playbook, kind: str | None = None) -> str:
    """A one-line gist of a paper in the digest's language: its kind and topics ("机器人控制、视频生成方向的新方法").

    Built from the same tables as its "what" (kind from facts.toml, topics from the playbook), so it
    states only what the title and opening say."""
    kind = kind or research_kind(title, about)
    short = book.data["research"]["kinds"][kind].get("short", "")
    # A topic the kind already says ("评测" of a 评测基准) is not said twice.
    topics = [t for t in research_topics(f"{title} {about}", book) if t not in short][:2]
    if topics:
        return book.text("research", "gist_topics", topics=book.join(topics), kind=short)
    return book.text("research", "gist", kind=short)


def _paper_headline(items: Sequence[SourceItem], book: Playbook) -> str | None:
    """An event a paper leads (no official source, no Chinese article): "<short name>：<gist>"."""
    lead = next((i for i in _ordered(items) if not i.is_social), None)
    if lead is None or not (lead.tier == "research" or lead.source_kind == "arxiv"):
        return None
    title = clean_title(lead.title, 200)
    if not title or is_cjk(title):
        return None
    gist = research_gist(title, lead.text[:260], book, research_kind(title, lead.text))
    return space_mixed(f"{short_name(title, HEADING_NAME)}：{gist}")


def _social_headline(items: Sequence[SourceItem], category: str, verification: str, book: Playbook) -> str | None:
    """An event only X posts carry: who posted and what about, never the post's opening words.

    An organisation's own account stating a fact is composed like an announcement ("Hugging Face 推出
    SmolVLM-3"); otherwise the post is named for what it is ("谷歌官方账号评论 Gemma 4", "X 用户 @… 爆料 GPT-6
    相关消息"), the verb by the post's type (fact / trend / opinion) or, unconfirmed, as a leak."""
    posts = [i for i in _ordered(items) if i.duplicate_of is None] or _ordered(items)
    lead = next((p for p in posts if p.official_for), posts[0] if posts else None)
    if lead is None:
        return None
    if lead.official_for and lead.item_type == "fact":
        composed = _compose([lead], category, book)
        if composed:
            return composed
    actor = localise_name(lead.official_for, book) if lead.official_for else ""
    named = [" ".join(str(o).split()) for o in lead.entities.get("organisations", ()) or ()]
    products = _products([lead], lead.official_for or "", named)
    orgs = [localise_name(o, book) for o in named]
    topic = products[0] if products else next((o for o in orgs if o and o != actor), "")
    if not topic or not (actor or lead.handle):
        return None
    who = (
        book.text("headline_social", "official", org=actor)
        if actor
        else book.text("headline_social", "account", handle=lead.handle)
    )
    kind = "rumour" if verification == "unverified" and not actor else (lead.item_type or "fact")
    if kind not in ("fact", "trend", "opinion", "rumour"):
        kind = "fact"
    return space_mixed(book.text("headline_social", kind, who=who, topic=topic))


def _reported_headline(items: Sequence[SourceItem], book: Playbook) -> str | None:
    """Last resort for an English-titled event with nothing to compose: who reported on what."""
    lead = next((i for i in _ordered(items) if not i.is_social), None)
    if lead is None:
        return None
    products = _products(items, "")
    orgs = [" ".join(str(o).split()) for o in lead.entities.get("organisations", ()) or ()]
    topic = products[0] if products else (localise_name(orgs[0], book) if orgs else "")
    if not topic:
        return None
    return space_mixed(book.text("headline_social", "reported", publisher=lead.publisher, topic=topic))


def event_headline(title: str, category: str, verification: str, items: Sequence[SourceItem], book: Playbook) -> str:
    """The headline the digest shows for an event (see the module docstring)."""
    cleaned = clean_title(title) or title.strip()
    social_only = bool(items) and all(i.is_social for i in items)
    if book.lang != "zh":
        english = [i for i in _ordered(items) if not i.is_social and i.title and not is_cjk(i.title)]
        if social_only:
            # A post's opening words are no headline: who posted, and on what.
            chosen = _social_headline(items, category, verification, book) or cleaned
        elif is_cjk(cleaned) and english:
            # An English digest keeps English headlines: the best-ranked English article's title, when
            # the event's own title came from a Chinese member.
            chosen = clean_title(english[0].title) or cleaned
        else:
            chosen = cleaned
        return _marked_unverified(chosen, verification, book)
    chosen = chinese_headline(items) or (
        _social_headline(items, category, verification, book)
        if social_only
        else _compose(items, category, book) or _paper_headline(items, book)
    )
    if chosen is None:
        actor = _actor(items, book)
        chosen = space_mixed(f"{actor}：{cleaned}") if actor and actor not in cleaned else cleaned
        if is_english_only(chosen):
            chosen = _reported_headline(items, book) or chosen
    return _marked_unverified(chosen, verification, book)


def _marked_unverified(headline: str, verification: str, book: Playbook) -> str:
    """An unconfirmed event's headline says so first ("传闻：", "Unconfirmed: "), in every language."""
    prefix = book.label("rumour_prefix")
    if verification == "unverified" and not headline.startswith(prefix):
        return prefix + headline
    return headline
