"""Event headlines in the digest's language, without an LLM, from the event's own sources.

zh: the headline a Chinese-language member of the event wrote, when one exists (its words,
cleaned); otherwise one composed from extracted facts, actor + action + key figure
("微软宣布 2026–2029 年在日本投资 100 亿美元"), with the action chosen by the phrase table of
`digest/playbooks/zh.toml` [headline]: per category, an ordered list of (pattern, template); the
first rule whose pattern matches the lead source and whose placeholders can all be filled wins.
en: the event's own (English) title, cleaned of links, emoji and trailing fragments.
Every slot of a template is filled from the sources (names, figures, years, places), so a
composed headline states nothing the sources do not.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from digest.facts import figures, format_value, year_range
from digest.model import Playbook, SourceItem
from digest.text import clean_title, is_cjk

__all__ = ["chinese_headline", "event_headline", "localise_name", "space_cjk", "space_mixed"]

_TIER = {"official": 0, "research": 1, "media": 2, "community": 3, "social": 4}
_SLOT = re.compile(r"\{(\w+)\}")
_CJK = r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]"
_MAX_ZH = 56
_SUBTITLE_AT = 40
_MAX_GROUP = 40


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
            # "主标题：副标题": a digest headline is the main title.
            head = title.split("：", 1)[0]
            title = head if len(head) >= 10 else title
        if len(title) > _MAX_ZH:
            # Still long: keep the main clause ("…投资 100 亿美元，加码 …" -> its first part).
            head = re.split(r"[，；]", title, maxsplit=1)[0]
            title = head if len(head) >= 10 else title[:_MAX_ZH].rstrip("，、：；") + "…"
        return space_mixed(title)
    return None


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


def _products(items: Sequence[SourceItem], actor: str) -> list[str]:
    """Products the sources name, most named first; on a tie, the one the lead headline names first."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    ordered_items = _ordered(items)
    headline = ordered_items[0].title if ordered_items else ""
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
    # "Microsoft 365 Copilot" and "Copilot" are one product: keep the fuller name.
    return [p for p in ordered if not any(p != q and p in q for q in ordered)]


def _slots(items: Sequence[SourceItem], category: str, book: Playbook) -> dict[str, str]:
    ordered = [i for i in _ordered(items) if not i.is_social] or _ordered(items)
    actor = _actor(items, book)
    slots: dict[str, str] = {"actor": actor}
    products = _products(items, actor)
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
            groups = {k: localise_name(" ".join(v.split()), book) for k, v in match.groupdict().items()
                      if v and len(v) <= _MAX_GROUP}
        text = _fill(template, {**slots, **groups})
        if text:
            return space_mixed(text)
    return None


def event_headline(title: str, category: str, verification: str, items: Sequence[SourceItem],
                   book: Playbook) -> str:
    """The headline the digest shows for an event (see the module docstring)."""
    cleaned = clean_title(title) or title.strip()
    if book.lang != "zh":
        if is_cjk(cleaned):
            # An English digest keeps English headlines: the best-ranked English article's title, when
            # the event's own title came from a Chinese member.
            english = [i for i in _ordered(items) if not i.is_social and i.title and not is_cjk(i.title)]
            if english:
                return clean_title(english[0].title) or cleaned
        return cleaned
    chosen = chinese_headline(items) or _compose(items, category, book)
    if chosen is None:
        actor = _actor(items, book)
        chosen = space_mixed(f"{actor}：{cleaned}") if actor and actor not in cleaned else cleaned
    if verification == "unverified" and not chosen.startswith(book.label("rumour_prefix")):
        chosen = book.label("rumour_prefix") + chosen
    return chosen
