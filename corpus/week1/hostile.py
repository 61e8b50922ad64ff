import json, os, shutil, sys
sys.path.insert(0, os.path.dirname(__file__))
from common import OUT, write

H = os.path.join(OUT, "hostile")
if os.path.exists(H):
    shutil.rmtree(H)

CASES = []


def case(name, file, served_as, content_type, expected, reason_contains, kind="feed", data=None, encoding="utf-8", **extra):
    if data is not None:
        write("hostile/" + file, data if isinstance(data, bytes) else data.encode(encoding))
    c = dict(name=name, file=file, served_as=served_as, content_type=content_type, source_kind=kind,
             expected=expected, reason_contains=reason_contains)
    c.update(extra)
    CASES.append(c)


def rss(items, title="Hostile test feed", prolog='<?xml version="1.0" encoding="UTF-8"?>\n', doctype=""):
    body = "".join(
        "  <item>\n    <title>%s</title>\n    <link>%s</link>\n    <guid isPermaLink=\"false\">%s</guid>\n"
        "    <pubDate>%s</pubDate>\n    <description>%s</description>\n  </item>\n" % it for it in items)
    return prolog + doctype + ('<rss version="2.0">\n<channel>\n  <title>%s</title>\n  <link>{base}/</link>\n'
            '  <description>hostile input for connector tests</description>\n%s</channel>\n</rss>\n') % (title, body)


PUB = "Wed, 15 Apr 2026 09:00:00 +0000"
OK_LINK = "{base}/pages/openai/index/scaling-trusted-access-for-cyber.html"
RSS_CT = "application/rss+xml"

# ------------------------------------------------------------------ XML entity attacks
case("xxe-etc-hostname", "feeds/xxe-etc-hostname.xml", "/hostile/feeds/xxe-etc-hostname.xml", RSS_CT, "dead-letter", "xml",
     data=rss([("Leaked host: &xxe;", OK_LINK, "xxe-hostname-1", PUB, "&xxe;")],
              doctype='<!DOCTYPE rss [\n  <!ENTITY xxe SYSTEM "file:///etc/hostname">\n]>\n'),
     leak_check="/etc/hostname", also_acceptable=["salvage"],
     note="external entity must never be resolved; if the item is salvaged the entity must come out empty/literal, never the file content")
case("xxe-canary", "feeds/xxe-canary.xml", "/hostile/feeds/xxe-canary.xml", RSS_CT, "dead-letter", "xml",
     data=rss([("Canary: &canary;", OK_LINK, "xxe-canary-1", PUB, "before &canary; after")],
              doctype='<!DOCTYPE rss [\n  <!ENTITY canary SYSTEM "file://{canary}">\n]>\n'),
     leak_check="{canary}", also_acceptable=["salvage"],
     note="the test writes a random secret to the {canary} path; the secret must not appear in Kafka, DuckDB, the DLQ reason, logs or the digest")
case("xxe-parameter-entity-external-dtd", "feeds/xxe-external-dtd.xml", "/hostile/feeds/xxe-external-dtd.xml", RSS_CT, "dead-letter", "xml",
     data=rss([("External DTD &exfil;", OK_LINK, "xxe-dtd-1", PUB, "&exfil;")],
              doctype='<!DOCTYPE rss [\n  <!ENTITY % ext SYSTEM "{base}/hostile/files/evil.dtd">\n  %ext;\n]>\n'),
     leak_check="{canary}", must_not_request=["/hostile/files/evil.dtd"], also_acceptable=["salvage"],
     note="the parser must not fetch the external DTD: the test server records requests and evil.dtd must never be requested")
write("hostile/files/evil.dtd", '<!ENTITY % secret SYSTEM "file://{canary}">\n<!ENTITY % wrap "<!ENTITY exfil \'%secret;\'>">\n%wrap;\n')
case("xxe-atom-etc-passwd", "feeds/xxe-atom-passwd.xml", "/hostile/feeds/xxe-atom-passwd.xml", "application/atom+xml", "dead-letter", "xml",
     data='<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE feed [\n  <!ENTITY pw SYSTEM "file:///etc/passwd">\n]>\n'
          '<feed xmlns="http://www.w3.org/2005/Atom">\n  <id>tag:hostile,2026:xxe-atom</id>\n  <title>XXE Atom</title>\n'
          '  <updated>2026-04-15T09:00:00Z</updated>\n  <entry>\n    <id>tag:hostile,2026:xxe-atom-1</id>\n'
          '    <title>Passwd &pw;</title>\n    <updated>2026-04-15T09:00:00Z</updated>\n'
          '    <link rel="alternate" href="' + OK_LINK + '"/>\n    <content type="text">&pw;</content>\n  </entry>\n</feed>\n',
     leak_check="/etc/passwd", must_not_contain=["root:x:0:0"], also_acceptable=["salvage"])

lol = '<?xml version="1.0"?>\n<!DOCTYPE rss [\n  <!ENTITY lol "lol">\n'
prev = "lol"
for i in range(1, 10):
    lol += '  <!ENTITY lol%d "%s">\n' % (i, ("&%s;" % prev) * 10)
    prev = "lol%d" % i
lol += "]>\n"
case("billion-laughs", "feeds/billion-laughs.xml", "/hostile/feeds/billion-laughs.xml", RSS_CT, "dead-letter", "xml",
     data=rss([("&lol9;", OK_LINK, "lol-1", PUB, "&lol9;")], prolog="", doctype=lol),
     note="10^9 expansion; must fail fast (seconds) without memory growth")

big = "A" * 8000
case("quadratic-blowup", "feeds/quadratic-blowup.xml", "/hostile/feeds/quadratic-blowup.xml", RSS_CT, "dead-letter", "xml",
     data=rss([("Quadratic", OK_LINK, "quad-1", PUB, "&a;" * 6000)],
              doctype='<!DOCTYPE rss [\n  <!ENTITY a "%s">\n]>\n' % big),
     note="one 8,000-char internal entity referenced 6,000 times (about 48 MB expanded); no nested entities, so depth limits alone do not catch it")

# ------------------------------------------------------------------ broken XML
items = [("Truncated feed item %d: Gemma 4 in AI Core" % i, "{base}/pages/android-developers/2026/04/announcing-gemma-4-in-ai-core-developer-preview.html",
          "trunc-%d" % i, "Mon, 13 Apr 2026 0%d:00:00 +0000" % i, "Complete item number %d." % i) for i in range(1, 5)]
full = rss(items, title="Truncated feed")
cut = full.index("Complete item number 4") + 12
case("truncated-rss", "feeds/truncated.xml", "/hostile/feeds/truncated.xml", RSS_CT, "salvage", "xml",
     data=full[:cut], min_items=3, max_items=4,
     note="connection cut inside the 4th item's description; the first three complete items must be salvaged (recover mode). The partial 4th item (title and link intact, description cut) may be kept or dead-lettered")
case("malformed-atom", "feeds/malformed-atom.xml", "/hostile/feeds/malformed-atom.xml", "application/atom+xml", "dead-letter", "xml",
     data='<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n  <title>Broken <b>feed</title>\n'
          '  <entry>\n    <title>Unclosed & stray <entry>\n  <entry><title>Second</entry>\n  <entry><summary>no id, no link, no date\n</feed\n',
     note="not well-formed; a recovering parser finds only entries with no id, no link and no date, none of which may be emitted")
case("html-served-as-rss", "feeds/html-as-rss.xml", "/hostile/feeds/html-as-rss.xml", RSS_CT, "dead-letter", "xml",
     data='<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Please sign in to continue</h1>'
          '<form action="/login"><input name="u"><input name="p" type="password"></form></body></html>\n',
     note="a login wall returned with a feed content type")
case("json-served-as-atom", "feeds/json-as-atom.xml", "/hostile/feeds/json-as-atom.xml", "application/atom+xml", "dead-letter", "xml",
     data='{"error": "feed moved", "location": "https://example.com/new-feed"}\n')
case("empty-body", "feeds/empty.xml", "/hostile/feeds/empty.xml", RSS_CT, "dead-letter", "empty", data=b"")
case("deep-nesting", None, "/hostile/feeds/deep-nesting.xml", RSS_CT, "dead-letter", "xml",
     generate="deep-nesting:200000", note="<rss><channel><item><description> followed by 200,000 nested <div> elements; must not blow the stack")

# ------------------------------------------------------------------ XSS corpus
XSS_TITLE_1 = "<script>alert('title')</script>Gemma 4 lands in AI Core"
XSS_TITLE_2 = '<img src=x onerror="alert(document.domain)">OpenAI raises $122 billion'
XSS_DESC_1 = '<a href="javascript:alert(document.cookie)">Read the Trusted Access announcement</a>'
XSS_DESC_2 = '<iframe src="https://evil.example/frame"></iframe><svg onload=alert(1)>'
XSS_MD = "[click for details](javascript:alert(1)) | table | breaker |\n# fake heading"
xss_items = [
    (XSS_TITLE_1.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), OK_LINK, "xss-1", PUB, "Plain body."),
    (XSS_TITLE_2.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"), OK_LINK, "xss-2", PUB, "Plain body."),
    ("Markdown injection " + XSS_MD.replace("\n", " "), OK_LINK, "xss-3", PUB, "<![CDATA[" + XSS_DESC_1 + "]]>"),
    ("Iframe and svg in body", OK_LINK, "xss-4", PUB, "<![CDATA[<p>Safetensors joins the PyTorch Foundation.</p>" + XSS_DESC_2 + "]]>"),
]
XSS_STRINGS = [XSS_TITLE_1.split("Gemma")[0], '<img src=x onerror="alert(document.domain)">', '<a href="javascript:alert(document.cookie)">',
               '<iframe src="https://evil.example/frame">', "<svg onload=alert(1)>", "](javascript:alert(1))"]
case("xss-feed", "feeds/xss.xml", "/hostile/feeds/xss.xml", RSS_CT, "salvage", "", data=rss(xss_items, title="XSS feed"),
     min_items=4, must_not_contain=XSS_STRINGS,
     note="items are legitimate news with hostile markup; keep the items, escape/strip everything. must_not_contain is checked on digest .md, .html and the text of .json")

XSS_PAGE_STRINGS = ["<script>alert('body')</script>", "<img src=x onerror=alert('img')>", '<a href="javascript:alert(\'link\')">',
                    "<iframe srcdoc=", '<object data="javascript:alert(3)">', '<form action="javascript:alert(4)">',
                    '"><script>alert(\'og\')</script>', "<script>alert('title')</script>"]
xss_page = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Codex for (almost) everything &lt;script&gt;alert('title')&lt;/script&gt;</title>
<meta property="og:title" content="Codex &quot;&gt;&lt;script&gt;alert('og')&lt;/script&gt;">
<link rel="canonical" href="https://openai.com/index/codex-for-almost-everything/">
<meta property="article:published_time" content="2026-04-16T08:00:00-07:00">
</head><body>
<article><h1 onmouseover="alert('h1')">Codex for (almost) everything</h1>
<p>Codex can now take on long-running work across the tools you already use.</p>
<script>alert('body')</script>
<p>Details: <img src=x onerror=alert('img')> <a href="javascript:alert('link')">click</a></p>
<iframe srcdoc="&lt;script&gt;alert(2)&lt;/script&gt;"></iframe>
<object data="javascript:alert(3)"></object>
<form action="javascript:alert(4)"><button>Go</button></form>
<p style="background:url(javascript:alert(5))">Styled paragraph.</p>
</article></body></html>
"""
case("xss-page", "pages/xss-codex.html", "/hostile/pages/xss-codex.html", "text/html; charset=utf-8", "salvage", "", kind="html",
     data=xss_page, min_items=1, must_not_contain=XSS_PAGE_STRINGS,
     note="article text must survive ('Codex can now take on long-running work'); scripts, handlers and javascript: URLs must not reach any output unescaped")

# ------------------------------------------------------------------ unsafe URLs (SSRF)
SSRF = [
    ("ssrf-loopback-other-port", "http://127.0.0.1:9/admin", "loopback on a port other than the corpus server's: `local = true` exempts only the source's own origin"),
    ("ssrf-localhost-name", "http://localhost:6379/", "host name that resolves to loopback"),
    ("ssrf-private-10", "http://10.0.0.5/", "RFC 1918"),
    ("ssrf-private-192", "http://192.168.1.1/admin", "RFC 1918"),
    ("ssrf-cloud-metadata", "http://169.254.169.254/latest/meta-data/", "link-local cloud metadata"),
    ("ssrf-ipv4-mapped-ipv6", "http://[::ffff:127.0.0.1]/", "IPv4-mapped IPv6 loopback"),
    ("ssrf-ipv6-loopback", "http://[::1]:8080/", "IPv6 loopback"),
    ("ssrf-decimal-ip", "http://2130706433/", "127.0.0.1 as one decimal integer"),
    ("ssrf-hex-ip", "http://0x7f000001/", "127.0.0.1 in hex"),
    ("ssrf-octal-ip", "http://017700000001/", "127.0.0.1 in octal"),
    ("ssrf-short-ip", "http://127.1/", "shortened dotted form of 127.0.0.1"),
    ("ssrf-userinfo-confusion", "http://openai.com@169.254.169.254/latest/meta-data/", "userinfo makes the real host the metadata address"),
    ("ssrf-protocol-relative", "//169.254.169.254/latest/meta-data/", "protocol-relative link resolves to the metadata host"),
    ("ssrf-file-scheme", "file:///etc/passwd", "non-http scheme"),
    ("ssrf-gopher-scheme", "gopher://127.0.0.1:6379/_FLUSHALL", "non-http scheme"),
    ("ssrf-javascript-link", "javascript:alert(1)", "script URL as item link"),
]
for name, url, why in SSRF:
    u = url.replace("&", "&amp;")
    case(name, "feeds/%s.xml" % name, "/hostile/feeds/%s.xml" % name, RSS_CT, "refuse-fetch", "unsafe url",
         data=rss([("Short summary item linking to %s" % u, u, name + "-1", PUB, "Summary only; the full article is at the link.")], title=name),
         unsafe_url=url, note=why + ". The link must never be requested; the item may be kept without its page or dead-lettered.")

case("meta-refresh-to-metadata", "pages/meta-refresh.html", "/hostile/pages/meta-refresh.html", "text/html; charset=utf-8", "refuse-fetch", "unsafe url", kind="html",
     data='<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
          '<meta http-equiv="refresh" content="0; url=http://169.254.169.254/latest/meta-data/iam/security-credentials/">\n'
          '<title>Redirecting...</title></head><body><p>Redirecting to the article...</p></body></html>\n',
     unsafe_url="http://169.254.169.254/latest/meta-data/iam/security-credentials/",
     note="a connector that follows meta refresh must check the target like any other URL; not following it at all is also fine")
case("redirect-302-to-private", None, "/hostile/redirect/private", "text/html", "refuse-fetch", "unsafe url", kind="html",
     status=302, location="http://10.0.0.5/internal/", unsafe_url="http://10.0.0.5/internal/",
     note="no body file: the test server answers 302 with this Location; the redirect target is re-checked and refused")
case("redirect-301-to-file", None, "/hostile/redirect/file", "text/html", "refuse-fetch", "unsafe url", kind="html",
     status=301, location="file:///etc/passwd", unsafe_url="file:///etc/passwd", must_not_contain=["root:x:0:0"])

# ------------------------------------------------------------------ X API JSON
def tw(i, text, **over):
    t = {"id": str(2044500000000000000 + i), "text": text, "author_id": "4398626122", "created_at": "2026-04-15T10:00:0%dZ" % i,
         "lang": "en", "conversation_id": str(2044500000000000000 + i), "edit_history_tweet_ids": [str(2044500000000000000 + i)],
         "public_metrics": {"retweet_count": 1, "reply_count": 0, "like_count": 3, "quote_count": 0, "bookmark_count": 0, "impression_count": 90}}
    t.update(over)
    return {k: v for k, v in t.items() if v is not None}


USERS = {"users": [{"id": "4398626122", "name": "OpenAI", "username": "OpenAI", "verified": True}]}


def xpage(data, **meta):
    m = {"result_count": len(data) if isinstance(data, list) else 1}
    m.update(meta)
    return json.dumps({"data": data, "includes": USERS, "meta": m}, ensure_ascii=False, indent=1) + "\n"


good = tw(1, "Codex for (almost) everything is rolling out today.")
case("x-malformed-json", "x/malformed.json", "/hostile/x/malformed.json", "application/json", "dead-letter", "json", kind="x",
     data=xpage([good])[:-40])
case("x-post-missing-id", "x/missing-id.json", "/hostile/x/missing-id.json", "application/json", "salvage", "missing field", kind="x",
     data=xpage([good, tw(2, "This post has no id.", id=None)]), min_items=1, max_items=1)
case("x-post-missing-text", "x/missing-text.json", "/hostile/x/missing-text.json", "application/json", "salvage", "missing field", kind="x",
     data=xpage([good, tw(3, None)]), min_items=1, max_items=1)
case("x-data-not-a-list", "x/data-not-list.json", "/hostile/x/data-not-list.json", "application/json", "dead-letter", "type", kind="x",
     data=xpage(good))
case("x-wrong-types", "x/wrong-types.json", "/hostile/x/wrong-types.json", "application/json", "salvage", "type", kind="x",
     data=xpage([good, tw(4, ["text", "as", "a", "list"]), tw(5, "metrics are a string", public_metrics="lots"),
                 tw(6, "created_at is not a date", created_at="yesterday")]), min_items=1, max_items=1,
     note="posts 2-4 each have one wrongly typed field and are dead-lettered individually")
case("x-html-error-page", "x/html-error.json", "/hostile/x/html-error.json", "application/json", "dead-letter", "json", kind="x",
     data="<html><head><title>Over capacity</title></head><body><h1>Something went wrong</h1></body></html>\n")
case("x-top-level-array", "x/top-level-array.json", "/hostile/x/top-level-array.json", "application/json", "dead-letter", "type", kind="x",
     data=json.dumps([good]) + "\n")
X_XSS = ["<script>alert('tweet')</script>", "[free GPUs](javascript:alert(1))", '<img src=x onerror=alert("x")>']
case("x-xss-text", "x/xss.json", "/hostile/x/xss.json", "application/json", "salvage", "", kind="x",
     data=xpage([tw(7, "GPT-5.4-Cyber access tiers explained <script>alert('tweet')</script> [free GPUs](javascript:alert(1)) <img src=x onerror=alert(\"x\")>")]),
     min_items=1, must_not_contain=X_XSS)
write("hostile/x/hostile-loop/page-first.json", xpage([tw(8, "Pagination loop, page one.")], next_token="loop"))
write("hostile/x/hostile-loop/page-loop.json", xpage([tw(9, "Pagination loop, this page points at itself.")], next_token="loop"))
case("x-pagination-loop", "x/hostile-loop/page-first.json", "/x/hostile-loop/search", "application/json", "salvage", "pagination", kind="x",
     min_items=2, max_items=2, pages_dir="x/hostile-loop",
     note="served with the same routing as site/x/: no next_token -> page-first.json, next_token=loop -> page-loop.json, which returns next_token=loop again. The connector must stop (seen token / page cap) and keep the two posts")

# ------------------------------------------------------------------ encodings
zh_items = [("谷歌将 Gemma 4 接入 Android AI Core", "{base}/pages/xinzhi/article/2026040321.html", "enc-1", "Fri, 03 Apr 2026 21:30:00 +0800", "速度最高提升 4 倍，支持 140 多种语言。"),
            ("OpenAI 推出防御专用模型 GPT-5.4-Cyber", "{base}/pages/xinzhi/article/2026041506.html", "enc-2", "Wed, 15 Apr 2026 08:45:00 +0800", "网络安全可信访问计划扩大到数千名经过验证的防守者。")]
case("gbk-declared-utf8", "feeds/gbk-declared-utf8.xml", "/hostile/feeds/gbk-declared-utf8.xml", "application/rss+xml; charset=utf-8", "salvage", "encoding",
     data=rss(zh_items, title="编码错误的订阅源").encode("gbk"), min_items=2, expect_text=["谷歌将 Gemma 4 接入", "防御专用模型"],
     note="bytes are GBK, the XML declaration and the HTTP header both say UTF-8; detect and decode as GBK/GB18030")
moj = "OpenAI 完成 1220 亿美元融资，投后估值达 8520 亿美元"
moj_page = ('<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">\n<title>%s</title>\n'
            '<link rel="canonical" href="https://www.xinzhi-guancha.cn/article/2026040108">\n'
            '<meta property="article:published_time" content="2026-04-01T09:20:00+08:00">\n</head><body><article><h1>%s</h1>\n'
            '<p>%s</p></article></body></html>\n')
body_zh = "北京时间 4 月 1 日凌晨，OpenAI 宣布完成最新一轮融资，共获得 1220 亿美元承诺资本，投后估值达到 8520 亿美元。"
mangled = lambda s: s.encode("utf-8").decode("latin-1")
case("latin1-mojibake-zh", "pages/mojibake-zh.html", "/hostile/pages/mojibake-zh.html", "text/html; charset=utf-8", "salvage", "encoding", kind="html",
     data=(moj_page % (mangled(moj), mangled(moj), mangled(body_zh))).encode("utf-8"), min_items=1, expect_text=["1220 亿美元"],
     note="UTF-8 Chinese decoded as Latin-1 and re-encoded as UTF-8 (double encoding: 'åŒ—äº¬' style). Repair (latin-1 -> utf-8) is expected; at minimum the item must carry an encoding flag")
case("utf8-bom-wrong-declaration", "feeds/bom-wrong-decl.xml", "/hostile/feeds/bom-wrong-decl.xml", "text/xml; charset=windows-1252", "salvage", "encoding",
     data=b"\xef\xbb\xbf" + rss(zh_items, title="BOM 与声明不一致", prolog='<?xml version="1.0" encoding="ISO-8859-1"?>\n').encode("utf-8"),
     min_items=2, expect_text=["谷歌将 Gemma 4 接入"],
     note="UTF-8 BOM, XML declaration says ISO-8859-1, header says windows-1252: the BOM wins (XML spec / WHATWG)")
case("utf16-feed-no-charset", "feeds/utf16.xml", "/hostile/feeds/utf16.xml", "application/rss+xml", "salvage", "encoding",
     data=rss(zh_items, title="UTF-16 订阅源", prolog='<?xml version="1.0" encoding="UTF-16"?>\n').encode("utf-16"),
     min_items=2, expect_text=["防御专用模型"], also_acceptable=["salvage-without-note"],
     note="UTF-16 with BOM, no charset in the header; valid XML, so a correct parser needs no repair")
gbk_page = ('<!DOCTYPE html>\n<html lang="zh-CN"><head>\n<title>safetensors 加入 PyTorch 基金会</title>\n'
            '<link rel="canonical" href="https://www.xinzhi-guancha.cn/article/2026040911">\n'
            '<meta property="article:published_time" content="2026-04-09T10:10:00+08:00">\n</head><body><article>'
            '<h1>safetensors 加入 PyTorch 基金会：开源模型分发迎来中立治理</h1>\n<p>Hugging Face 于 4 月 8 日宣布，safetensors 已加入 PyTorch 基金会，'
            '成为 Linux 基金会旗下的基金会托管项目。safetensors 诞生的初衷，是规避用 pickle 保存模型权重时可能出现的任意代码执行风险。</p>'
            '</article></body></html>\n')
case("gbk-page-no-declaration", "pages/gbk-undeclared.html", "/hostile/pages/gbk-undeclared.html", "text/html", "salvage", "encoding", kind="html",
     data=gbk_page.encode("gbk"), min_items=1, expect_text=["任意代码执行"],
     note="GBK bytes, no charset in header or meta: detect")
case("header-charset-contradicts-meta", "pages/header-lies.html", "/hostile/pages/header-lies.html", "text/html; charset=gbk", "salvage", "encoding", kind="html",
     data=gbk_page.replace("<head>\n", '<head>\n<meta charset="utf-8">\n').encode("utf-8"), min_items=1, expect_text=["任意代码执行"],
     note="UTF-8 bytes with a correct meta charset, but the HTTP header claims GBK; the bytes decode cleanly only as UTF-8")

# ------------------------------------------------------------------ size and compression (generated by the tests, never committed)
case("huge-body", None, "/hostile/feeds/huge.xml", RSS_CT, "dead-letter", "size", generate="huge-body:64MiB",
     note="a valid RSS document padded to 64 MiB with complete items; must be cut off at the response size cap while streaming")
case("huge-description", None, "/hostile/feeds/huge-description.xml", RSS_CT, "dead-letter", "size", generate="huge-description:32MiB",
     note="one item whose <description> is 32 MiB of text")
case("gzip-bomb", None, "/hostile/feeds/gzip-bomb.xml", RSS_CT, "dead-letter", "size", content_encoding="gzip", generate="gzip-bomb:1GiB",
     note="about 1 MiB on the wire, 1 GiB decompressed (an RSS prefix then zeros); the decompressed-size cap must trip while streaming")
case("gzip-gzip-bomb", None, "/hostile/feeds/gzip-gzip-bomb.xml", RSS_CT, "dead-letter", "size", content_encoding="gzip, gzip", generate="gzip-gzip-bomb:1GiB",
     note="compressed twice (Content-Encoding: gzip, gzip); a few KiB on the wire")
case("brotli-bomb", None, "/hostile/feeds/br-bomb.xml", RSS_CT, "dead-letter", "size", content_encoding="br", generate="br-bomb:1GiB",
     note="skip if no brotli encoder is installed")
case("deflate-bomb", None, "/hostile/feeds/deflate-bomb.xml", RSS_CT, "dead-letter", "size", content_encoding="deflate", generate="deflate-bomb:1GiB")
case("x-gzip-bomb", None, "/hostile/x/gzip-bomb.json", "application/json", "dead-letter", "size", kind="x", content_encoding="gzip", generate="gzip-bomb:1GiB",
     note='JSON prefix {"data":[ then spaces')
case("gzip-header-lie", "feeds/gzip-lie.xml", "/hostile/feeds/gzip-lie.xml", RSS_CT, "dead-letter", "encoding", content_encoding="gzip",
     data=rss([("Plain body under a gzip header", OK_LINK, "gzlie-1", PUB, "not compressed")]),
     also_acceptable=["salvage"], note="Content-Encoding: gzip but the body is plain XML")

# ------------------------------------------------------------------ arXiv
case("arxiv-api-error", "arxiv/error.xml", "/hostile/arxiv/error.xml", "application/atom+xml", "dead-letter", "arxiv", kind="arxiv",
     data='<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
          '  <link href="http://arxiv.org/api/query?search_query=&amp;id_list=2604.9&amp;start=0&amp;max_results=5" rel="self" type="application/atom+xml"/>\n'
          '  <title type="html">ArXiv Query: search_query=&amp;id_list=2604.9&amp;start=0&amp;max_results=5</title>\n'
          '  <id>http://arxiv.org/api/5PUcQ1pWg1mF0XW1kdQm2yGJQwI</id>\n  <updated>2026-04-19T00:00:00-04:00</updated>\n'
          '  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>\n'
          '  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>\n'
          '  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:itemsPerPage>\n'
          '  <entry>\n    <id>http://arxiv.org/api/errors#incorrect_id_format_for_2604.9</id>\n    <title>Error</title>\n'
          '    <summary>incorrect id format for 2604.9</summary>\n    <updated>2026-04-19T00:00:00-04:00</updated>\n'
          '    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_2604.9" rel="alternate" type="text/html"/>\n'
          '    <author>\n      <name>arXiv api core</name>\n    </author>\n  </entry>\n</feed>\n',
     note="the real arXiv API reports errors as an Atom entry titled 'Error' with an id under http://arxiv.org/api/errors; it is not a paper")
case("arxiv-entry-missing-id", "arxiv/missing-id.xml", "/hostile/arxiv/missing-id.xml", "application/atom+xml", "salvage", "missing field", kind="arxiv",
     data='<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">\n'
          '  <title type="html">ArXiv Query</title>\n  <id>http://arxiv.org/api/hostile</id>\n  <updated>2026-04-19T00:00:00-04:00</updated>\n'
          '  <entry>\n    <id>http://arxiv.org/abs/2604.12908v1</id>\n    <published>2026-04-14T11:20:41Z</published>\n    <updated>2026-04-14T11:20:41Z</updated>\n'
          '    <title>Robotic Manipulation is Vision-to-Geometry Mapping</title>\n    <summary>Valid entry.</summary>\n'
          '    <author><name>Yifan Chen</name></author>\n    <link href="http://arxiv.org/abs/2604.12908v1" rel="alternate" type="text/html"/>\n'
          '    <arxiv:primary_category term="cs.RO" scheme="http://arxiv.org/schemas/atom"/>\n  </entry>\n'
          '  <entry>\n    <published>2026-04-15T00:00:00Z</published>\n    <title>Entry without an id</title>\n    <summary>No id element.</summary>\n'
          '    <author><name>Nobody</name></author>\n  </entry>\n</feed>\n',
     min_items=1, max_items=1)

# ------------------------------------------------------------------ cases.toml
def tv(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(tv(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


ORDER = ["name", "file", "served_as", "content_type", "content_encoding", "status", "location", "generate", "source_kind", "expected",
         "also_acceptable", "reason_contains", "min_items", "max_items", "pages_dir", "unsafe_url", "leak_check", "must_not_request",
         "must_not_contain", "expect_text", "note"]
out = ["# Hostile inputs for connector/normalize tests. See hostile/README section in ../README.md for the field meanings.",
       "# Placeholders substituted by the test server at serve time: {base} (its own base URL), {canary} (absolute path of a",
       "# canary file the test creates with a random secret). Files are relative to this directory.",
       "# `expected`: dead-letter = nothing emitted, >=1 DLQ record whose reason contains reason_contains;",
       "#             salvage     = good records emitted (min_items..max_items), bad parts dead-lettered / flagged with reason_contains;",
       "#             refuse-fetch = unsafe_url (or the redirect/refresh target) is never requested; a DLQ record or item flag",
       "#                            with reason_contains is written.",
       "# Cases with `generate` have no file: the test builds the body (never commit these).", ""]
for c in CASES:
    out.append("[[case]]")
    for k in ORDER:
        if k in c and c[k] is not None:
            out.append("%s = %s" % (k, tv(c[k])))
    assert set(c) <= set(ORDER), set(c) - set(ORDER)
    out.append("")
out += ["# support files served by the hostile server but not cases themselves",
        "[[support]]", 'file = "files/evil.dtd"', 'served_as = "/hostile/files/evil.dtd"', 'content_type = "application/xml-dtd"',
        'note = "external DTD referenced by xxe-parameter-entity-external-dtd; must never be requested"', "",
        "[[support]]", 'file = "x/hostile-loop/page-loop.json"', 'served_as = "/x/hostile-loop/search?next_token=loop"', 'content_type = "application/json"', ""]
write("hostile/cases.toml", "\n".join(out))
print(len(CASES), "cases")
