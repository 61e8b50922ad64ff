"""Render a Digest as Markdown (zh/en, the reference digest's sections) and as one safe HTML page.

Safety is layered because titles and bodies come from the open web:
1. every source-derived string is Markdown-escaped, and only http(s) URLs become links;
2. markdown-it-py in `js-default` mode (raw HTML off, `javascript:`/`data:` links refused);
3. nh3 sanitises the HTML with an allow-list, forces rel="noopener noreferrer" and http(s);
4. the page carries a CSP that allows no script at all.
The chart is an SVG built here from numbers and fixed labels (no CDN, no JavaScript).
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import nh3
from markdown_it import MarkdownIt

from digest.content import x_verification_text
from digest.model import Playbook
from digest.text import is_cjk
from schemas.digest import Digest, DigestSource, TopEvent, XSignal

__all__ = ["CATEGORY_COLOURS", "md_escape", "render_html", "render_markdown", "render_svg_chart", "sanitize_html"]

# Backslash-escapable ASCII punctuation (CommonMark 2.4) that can start markup mid-line.
# `|` and `!` stay bare: a table needs a delimiter row on the next line and an image needs
# `[`, and values never carry line breaks or bare brackets.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~&#])")
# Markup that only matters at the start of a line (lists, quotes, headings, thematic breaks).
_MD_LINE_START = re.compile(r"^(\s*)([-+=]|\d+[.)])")


def md_escape(text: str) -> str:
    """Plain text -> Markdown that renders as exactly that text (whitespace collapsed)."""
    text = " ".join(str(text).split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], text)


def _paragraphs(text: str) -> str:
    return "\n\n".join(md_escape(p) for p in re.split(r"\n\s*\n", text) if p.strip())


def _link(label: str, url: str) -> str:
    """A Markdown link for http(s) URLs; anything else stays inert text."""
    if not url.lower().startswith(("https://", "http://")):
        return md_escape(label or url)
    # Inside <...> a destination may hold anything but <, > and line breaks.
    safe = url.replace("<", "%3C").replace(">", "%3E").replace("\n", "%0A").replace(" ", "%20")
    return f"[{md_escape(label or url)}](<{safe}>)"


def _source_line(source: DigestSource, book: Playbook, timezone: str) -> str:
    when = source.published_at.astimezone(ZoneInfo(timezone)).date().isoformat() if source.published_at else ""
    tier = book.text("tier", source.tier)
    meta = f"{tier}，{when}" if book.lang == "zh" else f"{tier}, {when}"
    meta = meta.rstrip("，, ")
    publisher = md_escape(source.publisher)
    head = f"{publisher}（{meta}）" if book.lang == "zh" else f"{publisher} ({meta})"
    return f"{head} | {_link(source.title or _untitled_label(source.url, book), source.url)}"


_X_POST = re.compile(r"^https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/([A-Za-z0-9_]{1,15})/status/\d+")


def _untitled_label(url: str, book: Playbook) -> str:
    """A source without a headline (an X post) is named by its author, not by a bare link."""
    post = _X_POST.match(url)
    if post is None:
        return url
    handle = post.group(1)
    return f"@{handle} 的帖子" if book.lang == "zh" else f"post by @{handle}"


def x_heading(signal: XSignal, book: Playbook) -> str:
    """An X signal's heading: what the post is to its event (the post then follows as 原文 /
    Original), as the reference digest heads its posts. A Chinese post in the Chinese digest, or a
    post of no event, is headed by its own words."""
    own = signal.text or signal.url
    if signal.event_title and (book.lang != "zh" or not is_cjk(own)):
        # A claim of fact nobody has confirmed is no "disclosure": it is headed as the claim it is.
        kind = "claim" if signal.type == "fact" and signal.verification == "unverified" else signal.type
        return book.text("x", f"heading_{kind}", event=signal.event_title)
    return own


def _field(book: Playbook, key: str, value: str) -> str:
    return f"**{book.label(key)}**{book.label('colon')}{md_escape(value)}"


def _sources_block(book: Playbook, key: str, sources: list[DigestSource], timezone: str) -> str:
    head = f"**{book.label(key)}**{book.label('colon')}"
    if not sources:
        return head + md_escape(book.label("none"))
    return head + "\n\n" + "\n".join(f"- {_source_line(s, book, timezone)}" for s in sources)


def markdown_sections(digest: Digest) -> list[str]:
    """The Markdown as sections: [title+window, overview, conclusions, top, business, x, research, stats]."""
    book = Playbook.load(digest.language)
    tz = digest.window.timezone
    w = digest.window
    issue_date = (w.to + timedelta(days=1)).isoformat()
    carried = [e for e in digest.top_events if e.carried_over]
    window_line = book.label("window", **{"from": w.from_.isoformat()}, to=w.to.isoformat())
    if carried:
        since = min((s.published_at for e in carried for s in e.sources if s.published_at), default=None)
        since_text = since.astimezone(ZoneInfo(tz)).date().isoformat() if since else w.from_.isoformat()
        window_line += book.label("window_carry", count=len(carried), since=since_text)
    head = f"# {md_escape(book.label('title', date=issue_date, timezone=tz))}\n\n{md_escape(window_line)}"

    overview = f"## {book.label('overview')}\n\n{_paragraphs(digest.overview)}"
    conclusions = f"## {book.label('conclusions')}\n\n" + "\n".join(
        f"{n}. {md_escape(text)}" for n, text in enumerate(digest.conclusions, 1)
    )

    top_parts = [f"## {book.label('top', count=len(digest.top_events))}"]
    if not digest.top_events:
        top_parts.append(md_escape(book.label("none")))
    for n, event in enumerate(digest.top_events, 1):
        suffix = book.label("carried") if event.carried_over else ""
        verification = book.text("verification", event.verification)
        meta = (
            f"{book.category_name(event.category)} · 信号分 {event.signal_score:g} · {verification}"
            if book.lang == "zh"
            else f"{book.category_name(event.category)} · signal {event.signal_score:g} · {verification}"
        )
        facts = "\n".join(f"- {md_escape(f)}" for f in event.key_facts)
        top_parts.append(
            "\n\n".join(
                [
                    f"### {n}. {md_escape(event.title)}{' ' if suffix.startswith(' ') else ''}{md_escape(suffix)}",
                    f"*{md_escape(meta)}*",
                    _field(book, "what_happened", event.what_happened),
                    f"**{book.label('key_facts')}**{book.label('colon')}\n\n{facts}",
                    _field(book, "why", event.why_it_matters),
                    _field(book, "implications", event.implications),
                    _sources_block(book, "sources", event.sources, tz),
                ]
            )
        )
    top = "\n\n".join(top_parts)

    business = f"## {book.label('business')}\n\n{_paragraphs(digest.business_analysis)}"

    x_parts = [f"## {book.label('x')}"]
    if not digest.x_signals:
        x_parts.append(md_escape(book.label("none")))
    for n, signal in enumerate(digest.x_signals, 1):
        colon = book.label("colon")
        heading = x_heading(signal, book)
        original = [_field(book, "original", signal.text)] if heading != (signal.text or signal.url) else []
        x_parts.append(
            "\n\n".join(
                [
                    f"### {n}. {md_escape(signal.handle)}{colon}{md_escape(heading)}",
                    *original,
                    _field(book, "type", book.text("type", signal.type)),
                    _field(book, "verification", x_verification_text(signal, book)),
                    _field(book, "judgment", signal.judgment),
                    _sources_block(book, "source", signal.sources, tz),
                ]
            )
        )
    x_section = "\n\n".join(x_parts)

    r_parts = [f"## {book.label('research')}"]
    if not digest.research:
        r_parts.append(md_escape(book.label("none")))
    for n, paper in enumerate(digest.research, 1):
        label = f"arXiv {paper.arxiv_id}" if paper.arxiv_id else paper.title
        r_parts.append(
            "\n\n".join(
                [
                    f"### {n}. {md_escape(paper.title)}",
                    _field(book, "what", paper.what),
                    _field(book, "novelty", paper.novelty),
                    _field(book, "applications", paper.applications),
                    _field(book, "judgment", paper.judgment),
                    f"**{book.label('source')}**{book.label('colon')}{_link(label, paper.url)}",
                ]
            )
        )
    research = "\n\n".join(r_parts)

    s = digest.stats
    stats = f"## {book.label('stats')}\n\n" + md_escape(
        book.label("stats_line", items_in=s.items_in, duplicates=s.duplicates, rejected=s.rejected, events=s.events)
    )
    if not digest.top_events:
        # An empty window says so once (the overview's first line) and shows only what it has:
        # no "Top 0", no empty sections, no conclusions about nothing.
        return [
            head,
            overview,
            *([x_section] if digest.x_signals else []),
            *([research] if digest.research else []),
            stats,
        ]
    return [head, overview, conclusions, top, business, x_section, research, stats]


def render_markdown(digest: Digest) -> str:
    return "\n\n".join(markdown_sections(digest)) + "\n"


_MD = MarkdownIt("js-default")
_ALLOWED_TAGS = {
    "a",
    "blockquote",
    "br",
    "code",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "ul",
}


def sanitize_html(fragment: str) -> str:
    """Allow-list HTML: only structural tags, links with http(s) hrefs and rel=noopener noreferrer."""
    return nh3.clean(
        fragment,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "ol": {"start"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


# One colour per category, fixed, so a category looks the same in every issue.
CATEGORY_COLOURS = {
    "capital": "#2563eb",
    "security-access": "#dc2626",
    "infrastructure": "#059669",
    "on-device": "#d97706",
    "open-source": "#7c3aed",
    "agents": "#0891b2",
    "research": "#db2777",
    "policy": "#65a30d",
    "product": "#475569",
}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_svg_chart(events: list[TopEvent], book: Playbook) -> str:
    """One bar per Top-N event: its signal score (0–100) on a fixed scale, coloured by category.

    A fixed 0–100 scale (not the leader's score) so bar lengths compare across issues; the caption
    says what the bars are. Every text node is escaped.
    """
    if not events:
        return ""
    label_w, bar_w, row_h, top = 260, 300, 28, 34
    categories = list(dict.fromkeys(e.category for e in events))
    legend_top = top + row_h * len(events) + 8
    width = label_w + bar_w + 60
    height = legend_top + 24
    title = html.escape(book.label("chart", count=len(events)))
    limit = 18 if book.lang == "zh" else 32
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">',
        f'<title id="chart-title">{title}</title>',
        f'<text x="0" y="20" font-size="15" font-weight="600" fill="#111827">{title}</text>',
    ]
    for n, event in enumerate(events):
        y = top + n * row_h
        length = max(2.0, bar_w * min(100.0, event.signal_score) / 100.0)
        name = html.escape(f"{n + 1}. {_short(event.title, limit)}")
        colour = CATEGORY_COLOURS.get(event.category, "#475569")
        value = html.escape(f"{event.signal_score:g}")
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" font-size="13" text-anchor="end" fill="#374151">{name}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{length:.1f}" height="18" rx="3" fill="{colour}"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 17}" font-size="12" fill="#374151">{value}</text>'
        )
    x = 0.0
    for category in categories:
        name = book.category_name(category)
        parts.append(
            f'<rect x="{x:.0f}" y="{legend_top}" width="12" height="12" rx="2" '
            f'fill="{CATEGORY_COLOURS.get(category, "#475569")}"/>'
            f'<text x="{x + 16:.0f}" y="{legend_top + 11}" font-size="12" fill="#374151">{html.escape(name)}</text>'
        )
        x += 28 + 13 * len(name) if book.lang == "zh" else 28 + 7 * len(name)
    parts.append("</svg>")
    caption = book.label("chart_caption", count=len(events))
    return f'<figure class="chart">{"".join(parts)}<figcaption>{html.escape(caption)}</figcaption></figure>'


# An English page takes a Latin font first (CJK fonts only for the characters it lacks): with the CJK
# font first, Chromium drew an English page's “ ” full-width, leaving gaps around every quote.
_CSS = """
body{margin:0;background:#f8fafc;color:#111827;font:16px/1.7 -apple-system,"Segoe UI","Noto Sans CJK SC",
"PingFang SC","Microsoft YaHei",sans-serif}
html[lang="en"] body{font-family:-apple-system,"Segoe UI",Roboto,Arial,sans-serif,"Noto Sans CJK SC","PingFang SC",
"Microsoft YaHei"}
main{max-width:860px;margin:0 auto;padding:32px 24px 64px;background:#fff;box-shadow:0 0 0 1px #e5e7eb}
h1{font-size:1.7em;line-height:1.3;margin:.2em 0 .4em}
h2{font-size:1.3em;margin:2em 0 .6em;padding-bottom:.25em;border-bottom:2px solid #e5e7eb}
h3{font-size:1.08em;margin:1.6em 0 .4em;color:#1e3a8a}
p{margin:.55em 0}ul,ol{padding-left:1.5em}li{margin:.2em 0}
a{color:#1d4ed8;text-decoration:none;word-break:break-word}a:hover{text-decoration:underline}
em{color:#6b7280;font-style:normal;font-size:.92em}
figure.chart{margin:1.5em 0;padding:12px 16px;border:1px solid #e5e7eb;border-radius:8px;background:#fcfcfd}
figcaption{font-size:.8em;color:#6b7280}
"""


def render_html(digest: Digest) -> str:
    """One self-contained page: sanitised Markdown, an inline SVG chart, no script, no external fetch."""
    book = Playbook.load(digest.language)
    sections = markdown_sections(digest)
    head = sanitize_html(_MD.render("\n\n".join(sections[:2])))
    rest = sanitize_html(_MD.render("\n\n".join(sections[2:])))
    chart = render_svg_chart(list(digest.top_events), book)
    w = digest.window
    title = html.escape(book.label("title", date=(w.to + timedelta(days=1)).isoformat(), timezone=w.timezone))
    lang = "zh-CN" if digest.language == "zh" else "en"
    return (
        "<!doctype html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # Defence in depth: even if something slipped through, the page may run no script
        # and load nothing from anywhere.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">\n"
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{head}\n{chart}\n{rest}\n</main>\n</body>\n</html>\n"
    )
