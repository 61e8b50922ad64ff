import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from common import *
from official import OFFICIAL
from media import MEDIA
from zh import ZH
from arxiv_data import PAPERS

ART = {}
ART.update(OFFICIAL); ART.update(MEDIA); ART.update(ZH)
IDX = json.load(open(INDEX))
POST = IDX["posts"]; PM = IDX["post_meta"]


def key(k):
    """stable ground-truth key of an item"""
    if k in POST:
        return POST[k]
    if k in ART:
        a = ART[k]
        return a["guid"] if a.get("guid") else a["page"]
    return k  # arxiv id


def q(s):
    return json.dumps(s, ensure_ascii=False)


def arr(xs, indent="  "):
    return "[\n" + "".join("%s%s,\n" % (indent, q(x)) for x in xs) + "]"


# ------------------------------------------------------------------ sources.toml
SRC = [
    ("openai-news", "feed", "{base}/feeds/openai-news.xml", "official", "OpenAI", "openai", "RSS 2.0"),
    ("android-developers-blog", "feed", "{base}/feeds/android-developers-blog.xml", "official", "Google", "google", "Atom 1.0"),
    ("huggingface-blog", "feed", "{base}/feeds/huggingface-blog.xml", "official", "Hugging Face", "huggingface", "RSS 2.0 (community posts by other organisations, e.g. NVIDIA, also appear)"),
    ("microsoft-source-asia", "feed", "{base}/feeds/microsoft-source-asia.xml", "official", "Microsoft", "microsoft", "RSS 2.0, WordPress, content:encoded, +0900 dates"),
    ("anthropic-news", "feed", "{base}/feeds/anthropic-news.xml", "official", "Anthropic", "anthropic", "RSS 2.0"),
    ("bloomberg-technology", "feed", "{base}/feeds/bloomberg-technology.xml", "media", "Bloomberg", "bloomberg", "RSS 1.0 (RDF), dc:date"),
    ("ai-wire", "feed", "{base}/feeds/ai-wire.xml", "media", "AI Wire", "ai-wire", "RSS 2.0 with content:encoded, duplicates, noise, an out-of-window item"),
    ("xinzhi-guancha", "feed", "{base}/feeds/xinzhi-guancha.xml", "media", "新智观察", "xinzhi-guancha", "RSS 2.0 in Chinese; linked pages are UTF-8, GBK, and UTF-8 with no declared charset"),
    ("guiji-daily-nemotron", "html", "{base}/pages/guiji-daily/2026/04/18/nemotron-ocr-v2.html", "media", "硅基日报", "guiji-daily", "one article page, GB18030"),
]
lines = ["# Sample sources for `radar demo` and the corpus tests.",
         "# {base} is replaced by the corpus server's base URL (e.g. http://127.0.0.1:PORT) before use.",
         "# The corpus server listens on loopback, so every source here is marked local = true (DESIGN.md section 5:",
         "# private/loopback addresses are refused unless a source is explicitly marked local). `local` only",
         "# exempts the source's own origin ({base}); links to any other private address must still be refused.",
         "# publisher / organisation are extra keys: publisher is a display name, organisation is the slug",
         "# used to decide whether an item is the organisation's own (official) word.", ""]
for name, kind, url, tier, pub, org, note in SRC:
    lines += ["# " + note, "[[sources]]", "name = %s" % q(name), "kind = %s" % q(kind), "url = %s" % q(url),
              "tier = %s" % q(tier), "publisher = %s" % q(pub), "organisation = %s" % q(org), "local = true", ""]
lines += ["# X API v2 recent search. The server maps /x/ai-frontier/search?...&next_token=T to site/x/ai-frontier/page-T.json",
          "# and a request without next_token to page-first.json. No token is needed against the corpus server.",
          "[[sources]]", 'name = "x-ai-frontier"', 'kind = "x"',
          'url = "{base}/x/ai-frontier/search?query=%28OpenAI%20OR%20Anthropic%20OR%20Gemma%20OR%20Codex%20OR%20safetensors%20OR%20Nemotron%20OR%20GPT%29%20-is%3Anullcast&max_results=10&tweet.fields=created_at,lang,conversation_id,entities,public_metrics,referenced_tweets&expansions=author_id,referenced_tweets.id&user.fields=verified"',
          'tier = "social"', 'token_env = ""', 'publisher = "X"', 'organisation = "x"', "local = true", "",
          "# arXiv API. The server maps /arxiv/query?...start=N... to site/arxiv/page-N.xml (N = 0, 5; max_results = 5).",
          "[[sources]]", 'name = "arxiv-ai"', 'kind = "arxiv"',
          'url = "{base}/arxiv/query?search_query=cat:cs.AI+OR+cat:cs.RO+OR+cat:cs.CR+OR+cat:cs.LG+OR+cat:cs.CV&sortBy=submittedDate&sortOrder=descending&start=0&max_results=5"',
          'tier = "research"', 'publisher = "arXiv"', 'organisation = "arxiv"', "local = true", ""]
write("sources.toml", "\n".join(lines))

# ------------------------------------------------------------------ events
EVENTS = [
    dict(id="openai-funding-122b", category="capital", verification="verified-by-official", org="openai",
         title_en="OpenAI raises $122 billion at an $852 billion post-money valuation",
         title_zh="OpenAI 完成 1220 亿美元融资，投后估值 8520 亿美元",
         first="openai-funding", items=["openai-funding", "bbg-openai", "aw-funding", "xz-funding", "x02", "x06"], inw=True,
         facts=["$122 billion committed capital", "$852 billion post-money valuation", "$2 billion monthly revenue"]),
    dict(id="openai-trusted-access-cyber", category="security-access", verification="verified-by-official", org="openai",
         title_en="OpenAI expands Trusted Access for Cyber and introduces GPT-5.4-Cyber",
         title_zh="OpenAI 扩大 Trusted Access for Cyber 并推出 GPT-5.4-Cyber",
         first="openai-cyber", items=["openai-cyber", "aw-cyber", "aw-cyber-dup", "xz-cyber", "x09", "x10", "x11", "x12"], inw=True,
         facts=["thousands of verified individual defenders", "hundreds of teams protecting critical software", "GPT-5.4-Cyber fine-tuned for defensive cybersecurity", "identity verification and tiered access"]),
    dict(id="microsoft-japan-10b", category="infrastructure", verification="verified-by-official", org="microsoft",
         title_en="Microsoft to invest $10 billion in Japan in 2026-2029 for AI infrastructure, cybersecurity and skills",
         title_zh="微软宣布 2026 至 2029 年在日本投资 100 亿美元",
         first="ms-japan", items=["ms-japan", "bbg-msjapan", "aw-msjapan", "xz-msjapan", "x04", "x07", "x30"], inw=True,
         facts=["$10 billion 2026-2029", "train more than 1 million people by 2030", "nearly one in five working-age people use generative AI", "94% of Nikkei 225 use Microsoft 365 Copilot"]),
    dict(id="gemma-4-ai-core", category="on-device", verification="verified-by-official", org="google",
         title_en="Google brings Gemma 4 to the Android AI Core Developer Preview",
         title_zh="谷歌将 Gemma 4 接入 Android AI Core 开发者预览版",
         first="gemma-aicore", items=["gemma-aicore", "gemma-agentic", "aw-gemma", "xz-gemma", "x03", "x13", "x28"], inw=True,
         facts=["up to 4x faster", "140+ languages", "foundation for Gemini Nano 4", "tool calling, structured output, system prompts, thinking mode coming"]),
    dict(id="safetensors-pytorch-foundation", category="open-source", verification="verified-by-official", org="huggingface",
         title_en="Safetensors joins the PyTorch Foundation",
         title_zh="safetensors 加入 PyTorch 基金会",
         first="hf-safetensors", items=["hf-safetensors", "aw-safetensors", "xz-safetensors", "x05"], inw=True,
         facts=["foundation-hosted project under the Linux Foundation", "avoids pickle arbitrary code execution", "device-aware loading, direct CUDA/ROCm loading"]),
    dict(id="openai-codex-everything", category="agents", verification="verified-by-official", org="openai",
         title_en="OpenAI releases Codex for (almost) everything",
         title_zh="OpenAI 发布 Codex for (almost) everything",
         first="openai-codex", items=["openai-codex", "aw-codex", "aw-codex-near", "xz-codex", "x18", "x19"], inw=True, facts=[]),
    dict(id="openai-next-phase", category="agents", verification="verified-by-official", org="openai",
         title_en="OpenAI: The next phase of AI (enterprise above 40% of revenue)",
         title_zh="OpenAI 发布《The next phase of AI》，企业业务占收入 40% 以上",
         first="openai-next-phase", items=["openai-next-phase"], inw=True, single_source=True, facts=["more than 40% of revenue"]),
    dict(id="anthropic-rsp-update", category="policy", verification="verified-by-official", org="anthropic",
         title_en="Anthropic updates its Responsible Scaling Policy",
         title_zh="Anthropic 更新 Responsible Scaling Policy",
         first="anthropic-rsp", items=["anthropic-rsp", "aw-rsp", "x14", "x15"], inw=True, facts=[]),
    dict(id="nemotron-ocr-v2", category="research", verification="verified-by-official", org="nvidia",
         title_en="NVIDIA releases Nemotron OCR v2 and a 1M-sample multilingual synthetic OCR dataset",
         title_zh="英伟达发布 Nemotron OCR v2 与百万样本多语言合成 OCR 数据集",
         first="hf-nemotron-ocr", items=["hf-nemotron-ocr", "aw-nemotron", "gj-nemotron", "x20", "x21"], inw=True,
         facts=["1 million samples, six languages", "34.7 pages/s"]),
    dict(id="gemma-4-apple-silicon-finetune", category="on-device", verification="corroborated", org="",
         title_en="Community project fine-tunes Gemma 4 multimodal locally on Apple silicon, amplified by @googlegemma",
         title_zh="社区项目在 Apple 芯片上本地完成 Gemma 4 多模态微调，获 Google Gemma 官方账号转发",
         first="x16", items=["x16", "x17"], inw=True, facts=[]),
    dict(id="rumour-gpt-6-april-28", category="product", verification="unverified", org="openai",
         title_en="Rumour: OpenAI to ship GPT-6 on April 28 (no official confirmation)",
         title_zh="传闻：OpenAI 将于 4 月 28 日发布 GPT-6（无官方确认）",
         first="x22", items=["x22", "x23", "x24", "x25"], inw=True, rumour=True, facts=[]),
]
for pp in PAPERS:
    if pp["id"] == "2603.04417":
        continue
    items = [pp["id"]] + (["x27"] if pp["id"] == "2604.06168" else [])
    EVENTS.append(dict(id="arxiv-" + pp["id"], category="research", verification="verified-by-official", org="arxiv",
                       title_en=pp["title"], title_zh="", first_iso=pp["published"], updated=pp["updated"] if pp["v"] > 1 else None,
                       items=items, inw=True, single_source=len(items) == 1, facts=[]))

ZH_TITLES = {
    "arxiv-2604.16388": "SynthDoc-ML：用合成页面渲染做多语言 OCR 预训练",
    "arxiv-2604.15730": "长时工作流智能体：在多小时任务上评测工具调用模型",
    "arxiv-2604.14655": "在手机 NPU 上运行多模态小模型：时延、能耗与精度的权衡",
    "arxiv-2604.13902": "双重用途能力的访问分层：前沿模型“验证后开放”的框架",
    "arxiv-2604.13517": "DefendBench：评测语言模型智能体的防御性安全运营能力",
    "arxiv-2604.12908": "VGA：机器人操控即“视觉到几何”映射，几何骨干优于语言与视频模型",
    "arxiv-2604.12240": "跨 CUDA 与 ROCm 的设备感知零拷贝张量检查点加载",
    "arxiv-2604.11873": "仍在反序列化 pickle：公共模型仓库不安全反序列化的测量研究",
    "arxiv-2604.06168": "Action Images：把机器人动作写成多视角动作图像的端到端策略学习",
}


def first_published(e):
    if "first_iso" in e:
        return e["first_iso"].replace("Z", "+00:00")
    k = e["first"]
    if k in PM:
        return PM[k]["when"]
    return iso(ART[k]["published"])


out = ["# Ground truth for the frontier-radar sample corpus (see README.md for how keys are formed).",
       "# Item keys: feed entry -> its <guid> (RSS 2.0) / <id> (Atom) / rdf:about (RSS 1.0); X post -> tweet id;",
       "# arXiv -> arXiv id without version; page fetched by a kind=\"html\" source -> its path under site/.",
       "# Pages reached by following a feed entry's link belong to that entry's key (see [[page]] below).", "",
       "# Top-5 of the reference digest (sample-digest-2026-04-20.zh.md), in order",
       "top5 = " + arr(["openai-funding-122b", "openai-trusted-access-cyber", "microsoft-japan-10b", "gemma-4-ai-core", "safetensors-pytorch-foundation"]),
       "", "# arXiv ids expected in the digest's research section (Nemotron OCR v2, the third item there, is event nemotron-ocr-v2)",
       "research = " + arr(["2604.06168", "2604.12908"]), "",
       "# off-topic items (must not end up in any event)",
       "noise = " + arr([key(k) for k in ["aw-recipe", "x08", "x26", "x29"]]), "",
       "# dated outside the window and not a featured carry-over",
       "out_of_window = " + arr([key(k) for k in ["aw-old-chips", "ms-old", "anthropic-old", "x01"]] + ["2603.04417"]), "",
       "[window]", 'from = "2026-04-13"', 'to = "2026-04-19"', 'timezone = "Asia/Shanghai"',
       "# in UTC: 2026-04-12T16:00:00Z <= t < 2026-04-19T16:00:00Z",
       "# carry-over announcements the reference digest features were first published in this earlier range",
       'carryover_from = "2026-03-31"', 'carryover_to = "2026-04-12"', "",
       "# dedupe scoring: listed pairs are duplicates; pairs of items in the same event that are not listed are",
       "# independent rewrites (same event, not duplicates) -- score them as neither true nor false positives.",
       "[dedupe]", 'unlisted_same_event_pairs = "ignore"', ""]
for e in EVENTS:
    out += ["[[event]]", "id = %s" % q(e["id"]), "title_en = %s" % q(e["title_en"]),
            "title_zh = %s" % q(e["title_zh"] or ZH_TITLES.get(e["id"], "")),
            "category = %s" % q(e["category"]), "verification = %s" % q(e["verification"]),
            "official_organisation = %s" % q(e["org"]), "first_published = %s" % q(first_published(e)),
            "in_window_or_carryover = true"]
    if e.get("updated"):
        out.append("updated = %s  # v2 posted inside the window; the digest reports it as updated on 2026-04-15" % q(e["updated"].replace("Z", "+00:00")))
    if e.get("single_source"):
        out.append("single_source = true")
    if e.get("rumour"):
        out.append("rumour = true")
    if e["facts"]:
        out.append("key_facts = " + arr(e["facts"], "  "))
    out.append("items = " + arr([key(k) for k in e["items"]]))
    out.append("")

DUPS = [("aw-cyber", "aw-cyber-dup", "exact", "same title and body re-syndicated under a new guid; link differs only by utm_ parameters"),
        ("aw-codex", "aw-codex-near", "near", "edited title ('code' -> 'coding', '(updated)') and two edited phrases in the body"),
        ("x10", "x11", "retweet", "RT @AndrewCurran_"),
        ("x22", "x24", "retweet", "RT @leakzone_ai (rumour)"),
        ("openai-funding", "xz-funding", "cross-language", "新智观察 compiles the OpenAI announcement in Chinese"),
        ("ms-japan", "xz-msjapan", "cross-language", "新智观察 compiles the Microsoft announcement in Chinese"),
        ("gemma-aicore", "xz-gemma", "cross-language", "新智观察 compiles the Android Developers Blog post in Chinese")]
for a, b, kind, note in DUPS:
    out += ["[[duplicate]]", "a = %s" % q(key(a)), "b = %s" % q(key(b)), "kind = %s" % q(kind), "note = %s" % q(note), ""]

XS = [("x18", "fact", "verified-by-official", True, "Codex expands from coding into workflow execution; confirmed by the OpenAI product page"),
      ("x17", "trend", "corroborated", True, "community multimodal fine-tuning of Gemma 4 on Apple silicon, amplified by the official Gemma account"),
      ("x10", "trend", "verified-by-official", True, "access tiers for GPT-5.4-Cyber; facts confirmed by OpenAI, the licensing trend is the author's reading"),
      ("x22", "fact", "unverified", False, "viral claim with no official confirmation; must not be reported as fact"),
      ("x07", "opinion", "verified-by-official", False, "analyst view on sovereign AI packages; underlying facts confirmed by Microsoft"),
      ("x06", "opinion", "verified-by-official", False, "Chinese-language view on capital density; numbers confirmed by OpenAI"),
      ("x15", "opinion", "verified-by-official", False, "policy analyst links the RSP update with GPT-5.4-Cyber tiers")]
for k, typ, ver, ref, note in XS:
    out += ["[[x_signal]]", "tweet_id = %s" % q(POST[k]), "handle = %s" % q("@" + PM[k]["handle"]), "type = %s" % q(typ),
            "verification = %s" % q(ver), "event = %s" % q(PM[k]["event"]), "in_reference_digest = %s" % ("true" if ref else "false"),
            "note = %s" % q(note), ""]

out.append("# page (path under site/) -> key of the item it belongs to")
for k, a in ART.items():
    if a.get("no_page"):
        continue
    out += ["[[page]]", "path = %s" % q(a["page"]), "item = %s" % q(key(k)),
            "encoding = %s" % q({None: "utf-8 (undeclared)", "utf-8": "utf-8", "gbk": "gbk", "gb18030": "gb18030"}[a.get("charset", "utf-8")]),
            "lang = %s" % q("zh" if SITES[a["site"]]["lang"].startswith("zh") else "en"), ""]
write("ground_truth.toml", "\n".join(out))
print("events", len(EVENTS))
