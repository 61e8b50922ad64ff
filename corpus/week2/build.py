# ruff: noqa: E501 - corpus text: articles, posts and markup are kept one per line, as written
"""Write the second labelled week (2026-05-04 .. 2026-05-10, Asia/Shanghai) of the sample corpus.

Deterministic: run `.venv/bin/python corpus/week2/build.py` to rewrite
site/, sources.toml and ground_truth.toml. The texts are written for this corpus (fictional events in
the style of real outlets); nothing is fetched. The week differs from the first corpus on purpose:
other organisations and outlets (a long-form English newsletter, a terse Asian wire whose pages are
fetched, a Chinese outlet with full text in the feed, an official Chinese page read as a `kind = "html"`
source, a gossip blog), a single-source rumour, one how-to page published under two URLs, arXiv
papers from other fields, and a quiet day (2026-05-09, Asia/Shanghai: nothing published).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

# The built corpus lives beside the demo's, inside the connectors package.
ROOT = Path(__file__).resolve().parents[2] / "connectors" / "sample_corpus_week2"
SITE = ROOT / "site"
SHANGHAI = timezone(timedelta(hours=8))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class Entry:
    """One feed entry; `page` set: summary-only entry whose article text is on a fetched page."""

    key: str
    title: str
    published: str
    body: list[str]
    link: str
    summary: str = ""
    author: str = ""
    page: str | None = None  # path under site/ (served as {base}/<page>)
    canonical: str | None = None
    lang: str = "en"
    extra_page_line: str | None = None


@dataclass
class Feed:
    name: str
    title: str
    home: str
    tier: str
    publisher: str
    organisation: str
    lang: str
    fmt: str  # rss-content | rss-summary | atom
    description: str
    entries: list[Entry] = field(default_factory=list)


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def paragraphs(body: list[str]) -> str:
    return "\n".join(f"<p>{esc(p)}</p>" for p in body)


# --- feeds ----------------------------------------------------------------------------------------

MISTRAL = Feed(
    "mistral-news",
    "Mistral AI | News",
    "https://mistral.ai/news",
    "official",
    "Mistral AI",
    "mistral-ai",
    "en",
    "rss-content",
    "News and announcements from Mistral AI",
)
MISTRAL.entries = [
    Entry(
        "https://mistral.ai/news/mistral-medium-3-open-weights",
        "Mistral Medium 3 is now open-weight under Apache 2.0",
        "2026-05-05T16:00:00+02:00",
        [
            "Today we are releasing the weights of Mistral Medium 3 under the Apache 2.0 licence.",
            "Mistral Medium 3 has 123 billion parameters, a 128k-token context window and native function calling. "
            "It runs on a single node of eight GPUs and is available today on Hugging Face and La Plateforme.",
            "Enterprises can fine-tune and deploy it on their own infrastructure without usage restrictions. "
            "We believe open weights at the frontier are how Europe builds durable AI capability.",
        ],
        "https://mistral.ai/news/mistral-medium-3-open-weights",
        author="Mistral AI team",
    ),
]

DEEPMIND = Feed(
    "deepmind-blog",
    "Google DeepMind Blog",
    "https://deepmind.google/discover/blog/",
    "official",
    "Google DeepMind",
    "google-deepmind",
    "en",
    "atom",
    "Research and product updates from Google DeepMind",
)
DEEPMIND.entries = [
    Entry(
        "tag:deepmind.google,2026:blog/project-mariner-gemini-api",
        "Project Mariner comes to the Gemini API: browser agents for every developer",
        "2026-05-05T09:00:00-07:00",
        [
            "Starting today, developers can build on Project Mariner through the Gemini API. Mariner agents can "
            "navigate websites, fill in forms and complete multi-step tasks in a browser on a user's behalf.",
            "Each task runs in an isolated cloud browser with a full action log, and agents ask for confirmation "
            "before purchases or sending messages. Up to 10 tasks can run in parallel per user.",
            "Early partners include travel, retail and recruiting platforms that use Mariner to automate "
            "workflows that have no API.",
        ],
        "https://deepmind.google/discover/blog/project-mariner-gemini-api/",
        author="Project Mariner team",
    ),
    Entry(
        "tag:deepmind.google,2026:blog/lean-scaled-theorem-proving",
        "Lean-Scaled: what test-time search teaches us about theorem proving",
        "2026-05-07T08:00:00-07:00",
        [
            "In a new paper, Lean-Scaled (arXiv:2605.01234, https://arxiv.org/abs/2605.01234), we study how far "
            "test-time search can take a language model on olympiad-level theorem proving in Lean.",
            "Spending 64 times more compute on search at inference time solves 41% more competition problems than "
            "a single attempt, with gains that keep growing as the proof search tree widens.",
            "We release the search harness so that others can reproduce the curves.",
        ],
        "https://deepmind.google/discover/blog/lean-scaled-theorem-proving/",
        author="Google DeepMind",
    ),
]

META = Feed(
    "meta-ai-blog",
    "AI at Meta Blog",
    "https://ai.meta.com/blog/",
    "official",
    "Meta",
    "meta",
    "en",
    "rss-content",
    "Updates from AI at Meta",
)
META.entries = [
    Entry(
        "https://ai.meta.com/blog/llama-4-5-mini-on-device/",
        "Llama 4.5 Mini brings on-device AI to Ray-Ban Meta glasses and Quest",
        "2026-05-07T10:00:00-07:00",
        [
            "Llama 4.5 Mini is a 1.2 billion parameter model built to run entirely on-device on Ray-Ban Meta glasses "
            "and Meta Quest headsets.",
            "It answers questions about what you see up to 3x faster than our previous on-device model and keeps "
            "images and audio on the device.",
            "Developers can start building with Llama 4.5 Mini in the Meta Wearables SDK preview today.",
        ],
        "https://ai.meta.com/blog/llama-4-5-mini-on-device/",
        author="AI at Meta",
    ),
]

NVIDIA = Feed(
    "nvidia-newsroom",
    "NVIDIA Newsroom",
    "https://nvidianews.nvidia.com/",
    "official",
    "NVIDIA",
    "nvidia",
    "en",
    "rss-content",
    "NVIDIA press releases",
)
NVIDIA.entries = [
    Entry(
        "https://nvidianews.nvidia.com/news/nvidia-uk-ai-infrastructure-investment",
        "NVIDIA to Invest $5 Billion in UK AI Infrastructure, Deploying 20,000 Blackwell GPUs",
        "2026-04-30T07:00:00-07:00",
        [
            "LONDON — NVIDIA today announced it will invest $5 billion in AI infrastructure in the United Kingdom "
            "between 2026 and 2028, including the deployment of 20,000 Blackwell GPUs across new data centres in "
            "the north of England and Scotland.",
            "The investment includes a research centre in Bristol and a programme to train 100,000 developers in "
            "accelerated computing by 2028.",
            '"Sovereign AI capacity is now national infrastructure," said Jensen Huang, founder and CEO of NVIDIA.',
        ],
        "https://nvidianews.nvidia.com/news/nvidia-uk-ai-infrastructure-investment",
        author="NVIDIA Newsroom",
    ),
]

LEDGER = Feed(
    "silicon-ledger",
    "The Silicon Ledger",
    "https://siliconledger.news/",
    "media",
    "The Silicon Ledger",
    "silicon-ledger",
    "en",
    "rss-content",
    "A weekly newsletter on the economics of AI, by Margaret Hale",
)
LEDGER.entries = [
    Entry(
        "ledger-2026-05-04-nvidia-uk",
        "What NVIDIA's $5 billion UK build-out means for Europe's compute gap",
        "2026-05-04T07:30:00+01:00",
        [
            "A week after NVIDIA's announcement, the numbers are worth sitting with. Five billion dollars over "
            "three years and 20,000 Blackwell GPUs would roughly double the AI compute available to British "
            "researchers and start-ups.",
            "The harder question is power. The sites in the north of England and Scotland were chosen for grid "
            "capacity, not for proximity to customers, and that trade-off will define sovereign AI projects "
            "across Europe.",
            "My read: the chips are the easy part. Whoever owns the megawatts owns the next decade of European AI.",
        ],
        "https://siliconledger.news/p/nvidia-uk-compute-gap",
        author="Margaret Hale",
    ),
    Entry(
        "ledger-2026-05-05-moonshot",
        "Moonshot AI is raising $1.2 billion at a $10 billion valuation",
        "2026-05-05T18:00:00+01:00",
        [
            "Moonshot AI, the Beijing start-up behind the Kimi assistant, is raising $1.2 billion in a round that "
            "values it at $10 billion, according to two people familiar with the terms.",
            "The round would make Moonshot the most valuable independent model developer in China. The company "
            "did not respond to a request for comment.",
        ],
        "https://siliconledger.news/p/moonshot-raise",
        author="Margaret Hale",
    ),
    Entry(
        "ledger-2026-05-06-mistral-open",
        "Mistral throws open Medium 3, and Europe's open-weight bet gets real",
        "2026-05-06T08:00:00+01:00",
        [
            "Mistral AI released the weights of Mistral Medium 3, its 123-billion-parameter model, under Apache 2.0 "
            "on Tuesday. It is the largest model Mistral has ever opened.",
            "For enterprises, the licence is the story: no usage caps, no field-of-use restrictions, and weights "
            "that run on one eight-GPU node.",
            "Open weights at this size put price pressure on every closed API vendor selling to European banks "
            "and governments.",
        ],
        "https://siliconledger.news/p/mistral-medium-3-open",
        author="Margaret Hale",
    ),
    Entry(
        "ledger-2026-05-07-deepseek-pricing",
        "DeepSeek's V4 price cut puts pressure on US API margins",
        "2026-05-07T09:00:00+01:00",
        [
            "DeepSeek launched DeepSeek-V4 on Wednesday and cut its API prices by 50%. Input tokens now cost "
            "$0.14 per million.",
            "At these prices the question for US labs is not whether they can match quality, but whether they can "
            "afford to match price.",
        ],
        "https://siliconledger.news/p/deepseek-v4-pricing",
        author="Margaret Hale",
    ),
    Entry(
        "ledger-2026-05-07-agent-drift",
        "Why your agent falls apart after 200 tool calls",
        "2026-05-07T16:00:00+01:00",
        [
            "A new paper from Priya Raman and colleagues, Tool-Call Drift (https://arxiv.org/abs/2605.02345), "
            "measures something every agent builder has felt: reliability decays over long sessions.",
            "Across six LLM agents, task success fell from 81% on short sessions to 46% after 200 tool calls, "
            "mostly from stale state and repeated actions.",
            "If you sell agents to enterprises, this is the benchmark your customers will ask about.",
        ],
        "https://siliconledger.news/p/agent-tool-call-drift",
        author="Margaret Hale",
    ),
    Entry(
        "ledger-2026-05-08-eu-gpai",
        "The EU's AI Office publishes its enforcement playbook for general-purpose AI",
        "2026-05-08T12:00:00+01:00",
        [
            "The European Commission's AI Office published guidelines on how it will enforce the AI Act's rules "
            "for general-purpose AI models from August, including fines of up to 3% of global turnover.",
            "Providers of models trained with more than 10^25 FLOPs must notify the AI Office within two weeks.",
        ],
        "https://siliconledger.news/p/eu-ai-office-gpai-enforcement",
        author="Margaret Hale",
    ),
]

TECHPULSE = Feed(
    "techpulse-asia",
    "TechPulse Asia",
    "https://techpulse.asia/",
    "media",
    "TechPulse Asia",
    "techpulse-asia",
    "en",
    "rss-summary",
    "Fast news on Asia's technology industry",
)
_HOWTO = [
    "Mistral Medium 3 is open-weight now. Here is how we got it serving on one eight-GPU node in under an hour.",
    "Step 1: download the weights from Hugging Face (about 246 GB in bfloat16). Step 2: install vLLM 0.9 or later. "
    "Step 3: launch with tensor parallelism of 8 and a 32k context to start.",
    "Step 4: benchmark with your own prompts before raising the context window; memory use grows quickly past 64k.",
]
TECHPULSE.entries = [
    Entry(
        "techpulse-2026-05-06-deepseek-v4",
        "DeepSeek launches V4, halves API prices",
        "2026-05-06T11:20:00+08:00",
        [
            "Hangzhou-based DeepSeek released DeepSeek-V4 on Wednesday and cut API prices by 50% across the board.",
            "The company says V4 matches its previous flagship on coding and maths benchmarks at half the serving cost.",
        ],
        "{base}/pages/techpulse/2026/05/06/deepseek-v4-price-cut.html",
        summary="DeepSeek's new model arrives with a 50% price cut.",
        page="pages/techpulse/2026/05/06/deepseek-v4-price-cut.html",
        canonical="https://techpulse.asia/2026/05/06/deepseek-v4-price-cut",
    ),
    Entry(
        "techpulse-2026-05-06-mariner",
        "Google opens Mariner browser agent to developers",
        "2026-05-06T09:00:00+08:00",
        [
            "Google DeepMind's Project Mariner browser agent is now available to developers through the Gemini API.",
            "Agents run in isolated cloud browsers and ask before purchases; up to 10 tasks run in parallel.",
        ],
        "{base}/pages/techpulse/2026/05/06/google-mariner-api.html",
        summary="Mariner agents can now be built into third-party apps.",
        page="pages/techpulse/2026/05/06/google-mariner-api.html",
        canonical="https://techpulse.asia/2026/05/06/google-mariner-api",
    ),
    Entry(
        "techpulse-guides-run-mistral-medium-3",
        "How to run Mistral Medium 3 on a single node: a practical guide",
        "2026-05-07T15:00:00+08:00",
        _HOWTO,
        "{base}/pages/techpulse/guides/run-mistral-medium-3.html",
        summary="A step-by-step guide to serving Mistral Medium 3.",
        page="pages/techpulse/guides/run-mistral-medium-3.html",
        canonical="https://techpulse.asia/guides/run-mistral-medium-3",
    ),
    # The same guide again, under the CMS's dated URL (each copy claims its own URL as canonical).
    Entry(
        "techpulse-2026-05-07-run-mistral-medium-3",
        "How to run Mistral Medium 3 on a single node: a practical guide",
        "2026-05-07T15:05:00+08:00",
        _HOWTO,
        "{base}/pages/techpulse/2026/05/07/run-mistral-medium-3-single-node.html",
        summary="A step-by-step guide to serving Mistral Medium 3.",
        page="pages/techpulse/2026/05/07/run-mistral-medium-3-single-node.html",
        canonical="https://techpulse.asia/2026/05/07/run-mistral-medium-3-single-node",
        extra_page_line="This guide also appears in our Guides section.",
    ),
    Entry(
        "techpulse-2026-05-08-meta-glasses",
        "Meta puts a 1.2B Llama on its glasses",
        "2026-05-08T08:30:00+08:00",
        [
            "Meta's new Llama 4.5 Mini, a 1.2 billion parameter model, runs fully on Ray-Ban Meta glasses and Quest "
            "headsets.",
            "Meta says it is 3x faster than its previous on-device model; images and audio stay on the device.",
        ],
        "{base}/pages/techpulse/2026/05/08/meta-llama-glasses.html",
        summary="On-device Llama for wearables.",
        page="pages/techpulse/2026/05/08/meta-llama-glasses.html",
        canonical="https://techpulse.asia/2026/05/08/meta-llama-glasses",
    ),
    Entry(
        "techpulse-2026-05-05-sponsored-desks",
        "Sponsored: the best standing desks of 2026",
        "2026-05-05T10:00:00+08:00",
        [
            "Our partners picked five standing desks for every budget, from bamboo tops to dual-motor frames.",
            "Use code PULSE10 for 10% off this week only.",
        ],
        "{base}/pages/techpulse/2026/05/05/sponsored-standing-desks.html",
        summary="Five standing desks for every budget.",
        page="pages/techpulse/2026/05/05/sponsored-standing-desks.html",
        canonical="https://techpulse.asia/2026/05/05/sponsored-standing-desks",
    ),
]

ZHINENG = Feed(
    "zhineng-yongxian",
    "智能涌现日报",
    "https://www.zhineng-yongxian.cn/",
    "media",
    "智能涌现日报",
    "zhineng-yongxian",
    "zh-CN",
    "rss-content",
    "每天十分钟，看懂 AI 产业",
)
ZHINENG.entries = [
    Entry(
        "https://www.zhineng-yongxian.cn/p/20260505-nvidia-uk",
        "英伟达将在英国投资 50 亿美元建设 AI 基础设施，部署 2 万块 Blackwell GPU",
        "2026-05-05T08:00:00+08:00",
        [
            "英伟达宣布将在 2026 至 2028 年间向英国投入 50 亿美元，建设 AI 基础设施，并在英格兰北部和苏格兰的新数据中心部署 2 万块 Blackwell GPU。",
            "这笔投资还包括在布里斯托尔设立研究中心，并计划到 2028 年培训 10 万名开发者。",
            "编者按：主权算力正在成为欧洲各国的标配，电力与选址比芯片本身更稀缺。",
        ],
        "https://www.zhineng-yongxian.cn/p/20260505-nvidia-uk",
        lang="zh",
    ),
    Entry(
        "https://www.zhineng-yongxian.cn/p/20260505-moonshot",
        "月之暗面完成 12 亿美元融资，估值 100 亿美元",
        "2026-05-05T21:30:00+08:00",
        [
            "据两位接近交易的人士透露，月之暗面（Moonshot AI）正在完成一轮 12 亿美元融资，投后估值约 100 亿美元。",
            "若交易完成，月之暗面将成为中国估值最高的独立大模型公司。公司未予置评。",
        ],
        "https://www.zhineng-yongxian.cn/p/20260505-moonshot",
        lang="zh",
    ),
    Entry(
        "https://www.zhineng-yongxian.cn/p/20260506-mistral",
        "Mistral 开源 Medium 3：1230 亿参数模型以 Apache 2.0 许可发布",
        "2026-05-06T09:00:00+08:00",
        [
            "法国 Mistral AI 宣布以 Apache 2.0 许可开放 Mistral Medium 3 的权重。该模型有 1230 亿参数，支持 128k 上下文，单台 8 卡服务器即可运行。",
            "企业可以在自有基础设施上微调和部署，没有使用限制。",
            "点评：开源权重追到前沿规模，闭源 API 厂商在欧洲政企市场的定价空间会被压缩。",
        ],
        "https://www.zhineng-yongxian.cn/p/20260506-mistral",
        lang="zh",
    ),
    Entry(
        "https://www.zhineng-yongxian.cn/p/20260508-eu-gpai",
        "欧盟 AI 办公室发布通用 AI 模型执法指南，最高罚款为全球营业额的 3%",
        "2026-05-08T20:00:00+08:00",
        [
            "欧盟委员会 AI 办公室发布指南，说明自 8 月起如何执行《人工智能法》对通用 AI 模型的规定，最高罚款可达全球营业额的 3%。",
            "训练算力超过 10^25 FLOPs 的模型提供方须在两周内向 AI 办公室报备。",
        ],
        "https://www.zhineng-yongxian.cn/p/20260508-eu-gpai",
        lang="zh",
    ),
]

WHISPERS = Feed(
    "valley-whispers",
    "Valley Whispers",
    "https://valleywhispers.blog/",
    "community",
    "Valley Whispers",
    "valley-whispers",
    "en",
    "rss-content",
    "What the Valley is talking about before it is news",
)
WHISPERS.entries = [
    Entry(
        "https://valleywhispers.blog/2026/05/08/apple-mistral-talks",
        "Exclusive: Apple in advanced talks to acquire Mistral AI for $15 billion, sources say",
        "2026-05-08T01:00:00-07:00",
        [
            "Apple is in advanced talks to buy Mistral AI for about $15 billion, according to a person who says they "
            "were briefed on the discussions.",
            "A deal could be announced as soon as June, the person said. Neither company has commented, and we could "
            "not independently confirm the talks.",
        ],
        "https://valleywhispers.blog/2026/05/08/apple-mistral-talks",
        author="V. W.",
    ),
    Entry(
        "https://valleywhispers.blog/2026/03/02/gpu-resale",
        "The quiet market for second-hand GPUs",
        "2026-03-02T09:00:00-08:00",
        [
            "Brokers say resale prices for last year's accelerators have fallen by a third since January.",
        ],
        "https://valleywhispers.blog/2026/03/02/gpu-resale",
        author="V. W.",
    ),
]

FEEDS = [MISTRAL, DEEPMIND, META, NVIDIA, LEDGER, TECHPULSE, ZHINENG, WHISPERS]


def rfc822(moment: str) -> str:
    return format_datetime(t(moment))


def write_feed(feed: Feed) -> None:
    path = SITE / "feeds" / f"{feed.name}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    newest = max(t(e.published) for e in feed.entries)
    if feed.fmt == "atom":
        entries = []
        for e in feed.entries:
            entries.append(
                f"""  <entry>
    <id>{esc(e.key)}</id>
    <title type="text">{esc(e.title)}</title>
    <link rel="alternate" type="text/html" href="{esc(e.link)}"/>
    <published>{e.published}</published>
    <updated>{e.published}</updated>
    <author><name>{esc(e.author)}</name></author>
    <content type="html">{esc(paragraphs(e.body))}</content>
  </entry>"""
            )
        body = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{feed.lang}">
  <id>{esc(feed.home)}</id>
  <title>{esc(feed.title)}</title>
  <subtitle>{esc(feed.description)}</subtitle>
  <link rel="alternate" href="{esc(feed.home)}"/>
  <link rel="self" href="{{base}}/feeds/{feed.name}.xml"/>
  <updated>{newest.isoformat()}</updated>
{chr(10).join(entries)}
</feed>
"""
    else:
        items = []
        for e in feed.entries:
            author = f"\n    <dc:creator><![CDATA[{e.author}]]></dc:creator>" if e.author else ""
            if feed.fmt == "rss-content":
                content = (
                    f"\n    <description><![CDATA[{e.body[0]}]]></description>"
                    f"\n    <content:encoded><![CDATA[{paragraphs(e.body)}]]></content:encoded>"
                )
            else:
                content = f"\n    <description><![CDATA[{e.summary}]]></description>"
            items.append(
                f"""  <item>
    <title>{esc(e.title)}</title>
    <link>{esc(e.link)}</link>
    <guid isPermaLink="{"true" if e.key.startswith("http") else "false"}">{esc(e.key)}</guid>
    <pubDate>{rfc822(e.published)}</pubDate>{author}{content}
  </item>"""
            )
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>{esc(feed.title)}</title>
  <link>{esc(feed.home)}</link>
  <description>{esc(feed.description)}</description>
  <language>{feed.lang}</language>
  <lastBuildDate>{format_datetime(newest)}</lastBuildDate>
{chr(10).join(items)}
</channel>
</rss>
"""
    path.write_text(body, encoding="utf-8")


def write_page(
    path: str,
    title: str,
    publisher: str,
    canonical: str,
    published: str,
    body: list[str],
    lang: str = "en",
    author: str = "",
) -> None:
    """A fetched article page: this corpus's outlets use a plainer template than the first week's."""
    target = SITE / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{esc(title)} — {esc(publisher)}</title>
<link rel="canonical" href="{esc(canonical)}">
<meta property="og:title" content="{esc(title)}">
<meta property="og:url" content="{esc(canonical)}">
<meta property="og:site_name" content="{esc(publisher)}">
<meta property="article:published_time" content="{published}">
<meta name="author" content="{esc(author)}">
<script>var _pulse=_pulse||[];_pulse.push(['trackPageView']);</script>
</head>
<body>
<header class="masthead"><a href="/">{esc(publisher)}</a> <nav><a href="/ai">AI</a> <a href="/chips">Chips</a> <a href="/guides">Guides</a></nav></header>
<main>
<article itemscope itemtype="https://schema.org/NewsArticle">
<h1 itemprop="headline">{esc(title)}</h1>
<p class="dateline"><time datetime="{published}">{published[:10]}</time>{(" · " + esc(author)) if author else ""}</p>
<section itemprop="articleBody">
{paragraphs(body)}
</section>
</article>
<aside class="more"><h2>More from {esc(publisher)}</h2><ul><li><a href="/ai">Latest AI news</a></li></ul></aside>
</main>
<footer><p>© 2026 {esc(publisher)}. <a href="/privacy">Privacy</a></p></footer>
</body>
</html>
""",
        encoding="utf-8",
    )


# --- the official Chinese page (kind = "html") -----------------------------------------------------

DEEPSEEK_PAGE = "pages/deepseek/news/2026-05-06-deepseek-v4.html"
DEEPSEEK_BODY = [
    "今天，我们正式发布 DeepSeek-V4，并同步上线 API。",
    "DeepSeek-V4 在代码与数学基准上达到上一代旗舰模型的水平，推理成本降低一半。即日起，API 价格整体下调 50%，输入每百万 tokens 0.14 美元。",
    "V4 权重将在两周内以 MIT 许可开源。",
]

# --- X posts -------------------------------------------------------------------------------------

USERS = {
    "GoogleDeepMind": ("4783690002", "Google DeepMind", True),
    "AIatMeta": ("1034844617261248512", "AI at Meta", True),
    "nvidia": ("61559439", "NVIDIA", True),
    "huggingface": ("778764142412984320", "Hugging Face", True),
    "priya_raman_ml": ("1399001122334455667", "Priya Raman", False),
    "asia_vc_desk": ("1422334455667788990", "Asia VC Desk", True),
    "suanli_laozhang": ("1566778899001122334", "算力老张", False),
    "kvcache_kid": ("1611223344556677889", "kv cache kid", False),
    "rumor_radar_ai": ("1700112233445566778", "Rumor Radar", False),
    "deep_thoughts_42": ("1712345678901234567", "Deep Thoughts", False),
    "huayuan_xiaoli": ("1722334455667788991", "花园小李", False),
}


@dataclass
class Post:
    handle: str
    created: str  # UTC
    text: str
    lang: str
    metrics: tuple[int, int, int, int]  # retweets, replies, likes, quotes
    link: str | None = None
    seq: int = 0

    @property
    def id(self) -> str:
        ms = int(t(self.created).timestamp() * 1000)
        return str(((ms - 1288834974657) << 22) | (self.seq & 0xFFF))


POSTS = [
    Post(
        "asia_vc_desk",
        "2026-05-04T02:00:00+00:00",
        "Moonshot AI is closing a $1.2B round at a $10B valuation, two investors tell us. Term sheets signed last week.",
        "en",
        (410, 95, 2300, 60),
        seq=1,
    ),
    Post(
        "GoogleDeepMind",
        "2026-05-05T16:05:00+00:00",
        "Project Mariner is now in the Gemini API. Build browser agents that navigate sites, fill forms and finish "
        "multi-step tasks, with a full action log. https://t.co/mArIn3rApI",
        "en",
        (1900, 420, 9800, 310),
        link="https://deepmind.google/discover/blog/project-mariner-gemini-api/",
        seq=2,
    ),
    Post(
        "huggingface",
        "2026-05-05T15:00:00+00:00",
        "Mistral Medium 3 weights are live on the Hub 🎉 123B params, Apache 2.0. https://t.co/mIsTrAlM3w",
        "en",
        (800, 120, 5200, 90),
        link="https://huggingface.co/mistralai/Mistral-Medium-3",
        seq=3,
    ),
    Post(
        "suanli_laozhang",
        "2026-05-06T04:10:00+00:00",
        "DeepSeek 又把价格打下来一半，V4 输入每百万 tokens 才 0.14 美元。国内 API 价格战第二季开始了，中小模型厂商日子更难过。",
        "zh",
        (210, 88, 1300, 25),
        seq=4,
    ),
    Post(
        "AIatMeta",
        "2026-05-07T17:10:00+00:00",
        "Meet Llama 4.5 Mini: 1.2B parameters, running entirely on Ray-Ban Meta glasses and Quest. Up to 3x faster, "
        "and your images stay on device. https://t.co/lLaMa45mIn",
        "en",
        (1500, 300, 8700, 150),
        link="https://ai.meta.com/blog/llama-4-5-mini-on-device/",
        seq=5,
    ),
    Post(
        "priya_raman_ml",
        "2026-05-07T09:30:00+00:00",
        "Our paper Tool-Call Drift is out: across six LLM agents, success falls from 81% to 46% after 200 tool calls. "
        "Most failures are stale state and repeated actions. https://t.co/dRiFt2345x",
        "en",
        (260, 48, 1400, 40),
        link="https://arxiv.org/abs/2605.02345",
        seq=6,
    ),
    Post(
        "huggingface",
        "2026-05-08T14:00:00+00:00",
        "SmolVLM-3 is out: a 2B vision-language model that runs in your browser with WebGPU, reads charts and "
        "documents, Apache 2.0. https://t.co/sMoLvLm3xy",
        "en",
        (700, 90, 4100, 70),
        link="https://huggingface.co/blog/smolvlm3",
        seq=7,
    ),
    Post(
        "rumor_radar_ai",
        "2026-05-08T10:30:00+00:00",
        "🚨 Apple buying Mistral for $15B?! Valley Whispers says talks are advanced. If true this changes the open-weight "
        "race overnight 👀 https://t.co/aPpLeMiStr",
        "en",
        (1200, 400, 6100, 380),
        link="https://valleywhispers.blog/2026/05/08/apple-mistral-talks",
        seq=8,
    ),
    Post(
        "kvcache_kid",
        "2026-05-08T03:00:00+00:00",
        "Open weights at 123B is the new normal. The closed labs' moat is distribution, not weights.",
        "en",
        (90, 30, 520, 12),
        seq=9,
    ),
    Post(
        "deep_thoughts_42", "2026-05-06T20:00:00+00:00", "AGI next year. Screenshot this.", "en", (4, 19, 66, 1), seq=10
    ),
    Post(
        "huayuan_xiaoli",
        "2026-05-07T01:00:00+00:00",
        "阳台的月季终于开了，今年用了新的缓释肥，花量比去年多一倍。",
        "zh",
        (3, 5, 88, 0),
        seq=11,
    ),
    # before the window's lookback start: out of window
    Post(
        "nvidia",
        "2026-04-01T15:00:00+00:00",
        "Blackwell Ultra is shipping to cloud partners this quarter.",
        "en",
        (300, 40, 2100, 20),
        link="https://nvidianews.nvidia.com/news/blackwell-ultra-shipping",
        seq=12,
    ),
    Post(
        "nvidia",
        "2026-04-30T14:05:00+00:00",
        "We're investing $5B in UK AI infrastructure, with 20,000 Blackwell GPUs across new data centres. "
        "https://t.co/nVuKaIinF5",
        "en",
        (900, 150, 6400, 120),
        link="https://nvidianews.nvidia.com/news/nvidia-uk-ai-infrastructure-investment",
        seq=13,
    ),
]


def write_x() -> None:
    folder = SITE / "x" / "week2"
    folder.mkdir(parents=True, exist_ok=True)
    newest_first = sorted(POSTS, key=lambda p: int(p.id), reverse=True)
    pages = [newest_first[:7], newest_first[7:]]
    tokens = ["", "w2p2qz7k4m1n8b5v"]
    for number, chunk in enumerate(pages):
        data = []
        for p in chunk:
            rt, replies, likes, quotes = p.metrics
            post: dict[str, object] = {
                "id": p.id,
                "text": p.text,
                "author_id": USERS[p.handle][0],
                "created_at": p.created.replace("+00:00", ".000Z"),
                "lang": p.lang,
                "conversation_id": p.id,
                "edit_history_tweet_ids": [p.id],
                "public_metrics": {
                    "retweet_count": rt,
                    "reply_count": replies,
                    "like_count": likes,
                    "quote_count": quotes,
                    "bookmark_count": likes // 20,
                    "impression_count": likes * 90,
                },
            }
            if p.link:
                short = p.text.rsplit(" ", 1)[-1]
                post["entities"] = {
                    "urls": [
                        {
                            "start": len(p.text) - len(short),
                            "end": len(p.text),
                            "url": short,
                            "expanded_url": p.link,
                            "display_url": p.link.split("//", 1)[1][:24],
                        }
                    ]
                }
            data.append(post)
        handles = dict.fromkeys(p.handle for p in chunk)
        users = [{"id": USERS[h][0], "name": USERS[h][1], "username": h, "verified": USERS[h][2]} for h in handles]
        meta: dict[str, object] = {"newest_id": chunk[0].id, "oldest_id": chunk[-1].id, "result_count": len(chunk)}
        if number + 1 < len(pages):
            meta["next_token"] = tokens[number + 1]
        name = "page-first.json" if number == 0 else f"page-{tokens[number]}.json"
        (folder / name).write_text(
            json.dumps({"data": data, "includes": {"users": users}, "meta": meta}, ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8",
        )


# --- arXiv -----------------------------------------------------------------------------------------


@dataclass
class Paper:
    arxiv_id: str
    title: str
    summary: str
    authors: list[str]
    categories: list[str]
    published: str
    ai: bool


PAPERS = [
    Paper(
        "2605.04444",
        "Anomalous Diffusion of Tracer Particles in Crowded Lipid Membranes",
        "We track single fluorescent tracers in reconstituted lipid membranes crowded with transmembrane proteins. "
        "Mean squared displacement grows sub-linearly with an exponent that falls from 0.9 to 0.6 as protein area "
        "fraction rises, and the diffusion becomes ergodic again above a crossover time set by obstacle turnover.",
        ["Lena Vogt", "Arash Karimi"],
        ["cond-mat.soft", "physics.bio-ph"],
        "2026-05-10T09:00:00+00:00",
        False,
    ),
    Paper(
        "2605.04401",
        "Retrieval Heads Revisited: Where Long-Context Language Models Look Up Facts",
        "We locate the attention heads that copy facts from long inputs in six open language models and show that "
        "pruning fewer than 2% of heads halves needle-in-a-haystack accuracy at 128k tokens, while leaving short-"
        "context benchmarks unchanged.",
        ["Tomás Ferreira", "Yuki Mori"],
        ["cs.CL", "cs.LG"],
        "2026-05-10T07:30:00+00:00",
        True,
    ),
    Paper(
        "2605.03456",
        "Sparse Mixture Routing for On-Device Vision-Language Models",
        "We route image patches through a sparse mixture of small experts so that a 1.5B vision-language model "
        "activates 400M parameters per token on phones, cutting energy per answer by 2.3x with under one point of "
        "accuracy loss on chart and document questions.",
        ["Hana Kobayashi", "Ravi Iyer", "Maja Nowak"],
        ["cs.CV", "cs.LG"],
        "2026-05-08T06:00:00+00:00",
        True,
    ),
    Paper(
        "2605.02222",
        "Thermal Ageing of Distribution Transformers under Heat Waves: A Field Dataset from 400 Substations",
        "We release hourly oil and winding temperature measurements from 400 distribution transformers across three "
        "summers, and fit an ageing model showing that heat waves above 38 C consume a month of insulation life per "
        "day of overload.",
        ["Giulia Conti", "Mark Oduya"],
        ["eess.SY"],
        "2026-05-08T05:00:00+00:00",
        False,
    ),
    Paper(
        "2605.03333",
        "An Agent-Based Model of Rental Housing Markets with Search Frictions",
        "We build an agent-based model in which tenants and landlords search with frictions and learn prices from "
        "neighbours. Calibrated to three European cities, the model reproduces observed vacancy rates and predicts "
        "that rent caps lengthen search times by 40%.",
        ["Pieter de Vries", "Ana Ruiz"],
        ["econ.GN"],
        "2026-05-07T10:00:00+00:00",
        False,
    ),
    Paper(
        "2605.02345",
        "Tool-Call Drift: Measuring the Reliability of LLM Agents over Long Sessions",
        "We measure how the reliability of LLM agents changes over sessions of up to 500 tool calls. Across six "
        "agents and 180 tasks, success falls from 81% on short sessions to 46% after 200 calls. Most failures come "
        "from stale state and repeated actions; a simple state-refresh step recovers a third of the loss.",
        ["Priya Raman", "Daniel Osei", "Lucía Herrera"],
        ["cs.CL", "cs.AI"],
        "2026-05-06T17:00:00+00:00",
        True,
    ),
    Paper(
        "2605.01111",
        "A Census of Ultra-Diffuse Galaxies in the Perseus Cluster",
        "Using deep wide-field imaging we identify 212 ultra-diffuse galaxies in the Perseus cluster and measure "
        "their globular cluster counts, finding two populations with distinct dark matter halo masses.",
        ["Sofia Lindgren", "Kwame Mensah"],
        ["astro-ph.GA"],
        "2026-05-06T04:00:00+00:00",
        False,
    ),
    Paper(
        "2605.01234",
        "Lean-Scaled: Test-Time Search for Olympiad Theorem Proving with Language Models",
        "We study test-time search for formal theorem proving in Lean with language models. Spending 64 times more "
        "inference compute on tree search solves 41% more competition problems than a single attempt, and gains "
        "keep growing with the width of the search tree. We release the search harness.",
        ["Elena Rossi", "Jun Park", "Google DeepMind Theorem Proving Team"],
        ["cs.AI", "cs.LG", "cs.LO"],
        "2026-05-05T15:00:00+00:00",
        True,
    ),
    Paper(
        "2605.00987",
        "Curriculum Reinforcement Learning for Humanoid Locomotion from Human Video",
        "We train humanoid locomotion policies with reinforcement learning on a curriculum built from 2,000 hours "
        "of human walking video, reaching stable gaits on four terrains in simulation and on a real robot.",
        ["Chen Wei", "Amara Nwosu"],
        ["cs.RO", "cs.LG"],
        "2026-05-04T12:00:00+00:00",
        True,
    ),
    Paper(
        "2603.05555",
        "Low-Rank Adapters Forget Less: A Study of Continual Fine-Tuning",
        "We compare full fine-tuning and low-rank adapters over ten sequential tasks and find adapters forget 30% "
        "less of earlier tasks.",
        ["Ivan Petrov"],
        ["cs.LG"],
        "2026-03-10T12:00:00+00:00",
        True,
    ),
]


def write_arxiv() -> None:
    folder = SITE / "arxiv"
    folder.mkdir(parents=True, exist_ok=True)
    for start in (0, 5):
        entries = []
        for p in PAPERS[start : start + 5]:
            authors = "\n".join(f"    <author>\n      <name>{esc(a)}</name>\n    </author>" for a in p.authors)
            cats = "\n".join(f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in p.categories)
            entries.append(f"""  <entry>
    <id>http://arxiv.org/abs/{p.arxiv_id}v1</id>
    <updated>{p.published.replace("+00:00", "Z")}</updated>
    <published>{p.published.replace("+00:00", "Z")}</published>
    <title>{esc(p.title)}</title>
    <summary>  {esc(p.summary)}
</summary>
{authors}
    <link href="http://arxiv.org/abs/{p.arxiv_id}v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{p.arxiv_id}v1" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{p.categories[0]}" scheme="http://arxiv.org/schemas/atom"/>
{cats}
  </entry>""")
        (folder / f"page-{start}.xml").write_text(
            f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dall%26start%3D{start}%26max_results%3D5" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=all&amp;start={start}&amp;max_results=5</title>
  <id>http://arxiv.org/api/week2page{start}</id>
  <updated>2026-05-10T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(PAPERS)}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{start}</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">5</opensearch:itemsPerPage>
{chr(10).join(entries)}
</feed>
""",
            encoding="utf-8",
        )


# --- sources and ground truth ----------------------------------------------------------------------


def write_sources() -> None:
    lines = [
        "# Sources of the second sample week ({base} is the corpus server's base URL; every source is local).",
        "# Same format as connectors/sample_corpus/sources.toml.",
        "",
    ]
    for feed in FEEDS:
        lines += [
            "[[sources]]",
            f'name = "{feed.name}"',
            'kind = "feed"',
            f'url = "{{base}}/feeds/{feed.name}.xml"',
            f'tier = "{feed.tier}"',
            f'publisher = "{feed.publisher}"',
            f'organisation = "{feed.organisation}"',
            "local = true",
            "",
        ]
    lines += [
        "# DeepSeek's own announcement page, in Chinese: the page itself is the item",
        "[[sources]]",
        'name = "deepseek-news"',
        'kind = "html"',
        f'url = "{{base}}/{DEEPSEEK_PAGE}"',
        'tier = "official"',
        'publisher = "DeepSeek"',
        'organisation = "deepseek"',
        "local = true",
        "",
        "[[sources]]",
        'name = "x-week2"',
        'kind = "x"',
        'url = "{base}/x/week2/search?query=%28Mistral%20OR%20DeepSeek%20OR%20Llama%20OR%20Mariner%20OR%20NVIDIA%29'
        "&max_results=10&tweet.fields=created_at,lang,conversation_id,entities,public_metrics,referenced_tweets"
        '&expansions=author_id&user.fields=verified"',
        'tier = "social"',
        'token_env = ""',
        'publisher = "X"',
        'organisation = "x"',
        "local = true",
        "",
        "[[sources]]",
        'name = "arxiv-week2"',
        'kind = "arxiv"',
        'url = "{base}/arxiv/query?search_query=all&sortBy=submittedDate&sortOrder=descending&start=0&max_results=5"',
        'tier = "research"',
        'publisher = "arXiv"',
        'organisation = "arxiv"',
        "local = true",
        "",
    ]
    (ROOT / "sources.toml").write_text("\n".join(lines), encoding="utf-8")


def post_id(handle: str, seq: int) -> str:
    return next(p.id for p in POSTS if p.handle == handle and p.seq == seq)


def write_truth() -> None:
    x = {p.seq: p.id for p in POSTS}
    events = [
        (
            "mistral-medium-3-open",
            "Mistral AI releases Mistral Medium 3 as open weights under Apache 2.0",
            "Mistral 开源 Medium 3：1230 亿参数模型以 Apache 2.0 许可发布",
            "open-source",
            "verified-by-official",
            [
                "https://mistral.ai/news/mistral-medium-3-open-weights",
                "ledger-2026-05-06-mistral-open",
                "https://www.zhineng-yongxian.cn/p/20260506-mistral",
                x[3],
                x[9],
            ],
        ),
        (
            "deepseek-v4-price-cut",
            "DeepSeek launches DeepSeek-V4 and cuts API prices by 50%",
            "DeepSeek-V4 发布，API 价格下调 50%",
            "product",
            "verified-by-official",
            [DEEPSEEK_PAGE, "techpulse-2026-05-06-deepseek-v4", "ledger-2026-05-07-deepseek-pricing", x[4]],
        ),
        (
            "nvidia-uk-5b",
            "NVIDIA to invest $5 billion in UK AI infrastructure with 20,000 Blackwell GPUs",
            "英伟达将在英国投资 50 亿美元建设 AI 基础设施",
            "infrastructure",
            "verified-by-official",
            [
                "https://nvidianews.nvidia.com/news/nvidia-uk-ai-infrastructure-investment",
                "ledger-2026-05-04-nvidia-uk",
                "https://www.zhineng-yongxian.cn/p/20260505-nvidia-uk",
                x[13],
            ],
        ),
        (
            "meta-llama-4-5-mini",
            "Meta brings Llama 4.5 Mini on-device to Ray-Ban Meta glasses and Quest",
            "Meta 发布端侧模型 Llama 4.5 Mini",
            "on-device",
            "verified-by-official",
            ["https://ai.meta.com/blog/llama-4-5-mini-on-device/", "techpulse-2026-05-08-meta-glasses", x[5]],
        ),
        (
            "deepmind-mariner-api",
            "Google DeepMind opens Project Mariner browser agents in the Gemini API",
            "谷歌 DeepMind 在 Gemini API 开放 Project Mariner 浏览器智能体",
            "agents",
            "verified-by-official",
            ["tag:deepmind.google,2026:blog/project-mariner-gemini-api", "techpulse-2026-05-06-mariner", x[2]],
        ),
        (
            "moonshot-raise",
            "Moonshot AI raises $1.2 billion at a $10 billion valuation",
            "月之暗面完成 12 亿美元融资，估值 100 亿美元",
            "capital",
            "corroborated",
            ["ledger-2026-05-05-moonshot", "https://www.zhineng-yongxian.cn/p/20260505-moonshot", x[1]],
        ),
        (
            "eu-gpai-enforcement",
            "EU AI Office publishes enforcement guidelines for general-purpose AI models",
            "欧盟 AI 办公室发布通用 AI 模型执法指南",
            "policy",
            "corroborated",
            ["ledger-2026-05-08-eu-gpai", "https://www.zhineng-yongxian.cn/p/20260508-eu-gpai"],
        ),
        (
            "hf-smolvlm-3",
            "Hugging Face releases SmolVLM-3, a 2B in-browser vision-language model",
            "Hugging Face 发布 2B 参数浏览器端视觉语言模型 SmolVLM-3",
            "product",
            "verified-by-official",
            [x[7]],
        ),
        (
            "rumour-apple-mistral",
            "Rumour: Apple in talks to acquire Mistral AI for $15 billion",
            "传闻：苹果洽购 Mistral AI",
            "capital",
            "unverified",
            ["https://valleywhispers.blog/2026/05/08/apple-mistral-talks", x[8]],
        ),
        (
            "howto-mistral-single-node",
            "How to run Mistral Medium 3 on a single node (a guide, published twice)",
            "在单节点运行 Mistral Medium 3 的指南",
            "open-source",
            "unverified",
            ["techpulse-guides-run-mistral-medium-3", "techpulse-2026-05-07-run-mistral-medium-3"],
        ),
        (
            "lean-scaled",
            "Lean-Scaled: test-time search for olympiad theorem proving (paper and DeepMind post)",
            "Lean-Scaled：测试时搜索用于奥赛级定理证明",
            "research",
            "verified-by-official",
            ["2605.01234", "tag:deepmind.google,2026:blog/lean-scaled-theorem-proving"],
        ),
        (
            "tool-call-drift",
            "Tool-Call Drift: LLM agents lose reliability over long sessions (paper, article, author)",
            "Tool-Call Drift：长会话中智能体可靠性下降",
            "research",
            "verified-by-official",
            ["2605.02345", "ledger-2026-05-07-agent-drift", x[6]],
        ),
    ]
    for paper in PAPERS:
        if paper.arxiv_id in ("2605.01234", "2605.02345", "2603.05555"):
            continue
        events.append(
            (f"arxiv-{paper.arxiv_id}", paper.title, paper.title, "research", "verified-by-official", [paper.arxiv_id])
        )
    out = [
        "# Ground truth of the second sample week (see ../sample_corpus/README.md for how item keys are formed).",
        "# Written by _generator/build.py. Window 2026-05-04 .. 2026-05-10, Asia/Shanghai; 2026-05-09 is a quiet",
        "# day (nothing published). NVIDIA's UK announcement (2026-04-30) is a carry-over.",
        "",
        "# Top 5: the five credible industry events with an official source, media coverage and discussion;",
        "# any order (the evaluation compares sets). The single-source rumour and the guide published twice",
        "# must never be in it.",
        'top5 = ["mistral-medium-3-open", "deepseek-v4-price-cut", "nvidia-uk-5b", "meta-llama-4-5-mini",',
        '        "deepmind-mariner-api"]',
        "",
        "# AI papers that got attention in the window: an official post links Lean-Scaled, an article and its",
        "# author's post discuss Tool-Call Drift. The other AI papers are newer but nobody discussed them.",
        'research = ["2605.01234", "2605.02345"]',
        "# arXiv papers from other fields (physics, power systems, economics, astronomy): never in research",
        f"off_topic_papers = {json.dumps([p.arxiv_id for p in PAPERS if not p.ai])}",
        "",
        "# off-topic items (must not end up in any event)",
        f'noise = ["techpulse-2026-05-05-sponsored-desks", "{x[11]}"]',
        "# dated before the lookback",
        f'out_of_window = ["https://valleywhispers.blog/2026/03/02/gpu-resale", "{x[12]}", "2603.05555"]',
        f'unclustered = ["{x[10]}"]  # a bare opinion that belongs to no event',
        "",
        "[window]",
        'from = "2026-05-04"',
        'to = "2026-05-10"',
        'timezone = "Asia/Shanghai"',
        'quiet_day = "2026-05-09"',
        'carryover_from = "2026-04-30"',
        "",
        "[dedupe]",
        'unlisted_same_event_pairs = "ignore"',
        "",
        "[[duplicate]]",
        'a = "techpulse-guides-run-mistral-medium-3"',
        'b = "techpulse-2026-05-07-run-mistral-medium-3"',
        'kind = "same page under two URLs"',
        "",
    ]
    for event_id, en, zh, category, verification, items in events:
        out += [
            "[[event]]",
            f'id = "{event_id}"',
            f"title_en = {json.dumps(en)}",
            f"title_zh = {json.dumps(zh, ensure_ascii=False)}",
            f'category = "{category}"',
            f'verification = "{verification}"',
            f"items = {json.dumps(items, ensure_ascii=False)}",
            "",
        ]
    signals = [
        (
            x[6],
            "@priya_raman_ml",
            "fact",
            "verified-by-official",
            "tool-call-drift",
            True,
            "the paper's first author on her own result (researcher)",
        ),
        (
            x[1],
            "@asia_vc_desk",
            "fact",
            "corroborated",
            "moonshot-raise",
            True,
            "first report of the round, a day before the media (first report)",
        ),
        (
            x[7],
            "@huggingface",
            "fact",
            "verified-by-official",
            "hf-smolvlm-3",
            True,
            "an organisation's own account with news no article carries (official)",
        ),
        (
            x[8],
            "@rumor_radar_ai",
            "opinion",
            "unverified",
            "rumour-apple-mistral",
            True,
            "amplifies the single-source rumour: shown only flagged as unverified",
        ),
        (
            x[2],
            "@GoogleDeepMind",
            "fact",
            "verified-by-official",
            "deepmind-mariner-api",
            False,
            "official, but restates the DeepMind post already in the Top 5",
        ),
        (
            x[4],
            "@suanli_laozhang",
            "opinion",
            "verified-by-official",
            "deepseek-v4-price-cut",
            False,
            "a small account's view on the price cut",
        ),
        (
            x[9],
            "@kvcache_kid",
            "opinion",
            "verified-by-official",
            "mistral-medium-3-open",
            False,
            "a small account's opinion, days later",
        ),
    ]
    for tweet_id, handle, kind, verification, event, expected, note in signals:
        out += [
            "[[x_signal]]",
            f'tweet_id = "{tweet_id}"',
            f'handle = "{handle}"',
            f'type = "{kind}"',
            f'verification = "{verification}"',
            f'event = "{event}"',
            f"expected = {str(expected).lower()}",
            f"note = {json.dumps(note)}",
            "",
        ]
    for feed in FEEDS:
        for e in feed.entries:
            if e.page:
                out += [
                    "[[page]]",
                    f'path = "{e.page}"',
                    f'item = "{e.key}"',
                    'encoding = "utf-8"',
                    f'lang = "{e.lang}"',
                    "",
                ]
    (ROOT / "ground_truth.toml").write_text("\n".join(out), encoding="utf-8")


def main() -> None:
    for feed in FEEDS:
        write_feed(feed)
        for e in feed.entries:
            if e.page:
                body = e.body + ([e.extra_page_line] if e.extra_page_line else [])
                write_page(e.page, e.title, feed.publisher, e.canonical or e.link, e.published, body, e.lang, e.author)
    write_page(
        DEEPSEEK_PAGE,
        "DeepSeek-V4 发布，API 价格下调 50%",
        "DeepSeek",
        "https://api-docs.deepseek.com/zh-cn/news/news260506",
        "2026-05-06T10:00:00+08:00",
        DEEPSEEK_BODY,
        lang="zh-CN",
    )
    write_x()
    write_arxiv()
    write_sources()
    write_truth()
    # The quiet day: nothing in the corpus is dated on it (Asia/Shanghai).
    quiet = (datetime(2026, 5, 8, 16, tzinfo=UTC), datetime(2026, 5, 9, 16, tzinfo=UTC))
    dated = [t(e.published) for f in FEEDS for e in f.entries] + [t(p.created) for p in POSTS]
    dated += [t(p.published) for p in PAPERS]
    assert not [d for d in dated if quiet[0] <= d < quiet[1]], "the quiet day must stay quiet"


if __name__ == "__main__":
    main()
