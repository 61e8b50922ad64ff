"""Consistency check of the sample corpus: formats parse, every ground-truth key exists, every item is labelled.
Run: .venv/bin/python corpus/week1/check.py   (needs feedparser, lxml)"""
import glob, json, os, re, sys, tomllib
import feedparser
import lxml.etree as ET
import lxml.html

# The built corpus lives where the demo finds it, inside the connectors package.
ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "connectors", "sample_corpus")
SITE = os.path.join(ROOT, "site")
BASE = b"http://127.0.0.1:8765"
errors = []


def err(msg):
    errors.append(msg)


keys = {}  # key -> description
for f in sorted(glob.glob(os.path.join(SITE, "feeds", "*.xml"))):
    raw = open(f, "rb").read().replace(b"{base}", BASE)
    ET.fromstring(raw, ET.XMLParser(resolve_entities=False, no_network=True))
    p = feedparser.parse(raw)
    if p.bozo:
        err("%s: bozo %s" % (f, p.bozo_exception))
    for e in p.entries:
        if not (e.get("published_parsed") or e.get("updated_parsed")):
            err("%s: entry without date %s" % (f, e.get("id")))
        if not e.get("link", "").startswith(BASE.decode()):
            err("%s: entry link not under {base}: %s" % (f, e.get("link")))
        page = e.link[len(BASE) + 1:].split("?")[0]
        if not os.path.exists(os.path.join(SITE, page)):
            err("%s: missing page %s" % (f, page))
        if e.id in keys:
            err("duplicate key %s" % e.id)
        keys[e.id] = "feed " + os.path.basename(f)
posts = []
tok = "first"
seen = set()
while tok:
    j = json.load(open(os.path.join(SITE, "x", "ai-frontier", "page-%s.json" % tok), encoding="utf-8"))
    assert j["meta"]["result_count"] == len(j["data"])
    ids = [t["id"] for t in j["data"]]
    assert j["meta"]["newest_id"] == ids[0] and j["meta"]["oldest_id"] == ids[-1]
    users = {u["id"] for u in j["includes"]["users"]}
    for t in j["data"]:
        assert t["author_id"] in users, t["id"]
        assert re.fullmatch(r"\d{19}", t["id"])
        keys[t["id"]] = "x"
        posts.append(t)
    tok = j["meta"].get("next_token")
    assert tok not in seen
    seen.add(tok)
assert all(int(a["id"]) > int(b["id"]) for a, b in zip(posts, posts[1:])), "posts must be newest first, ids increasing with time"
ns = {"a": "http://www.w3.org/2005/Atom", "os": "http://a9.com/-/spec/opensearch/1.1/"}
for f in sorted(glob.glob(os.path.join(SITE, "arxiv", "page-*.xml"))):
    t = ET.fromstring(open(f, "rb").read())
    start = int(t.find("os:startIndex", ns).text)
    assert f.endswith("page-%d.xml" % start)
    for e in t.findall("a:entry", ns):
        aid = re.sub(r"v\d+$", "", e.find("a:id", ns).text.rsplit("/", 1)[1])
        keys[aid] = "arxiv"
pages = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(SITE, "pages", "**", "*.html"), recursive=True))
for p in pages:
    doc = lxml.html.fromstring(open(os.path.join(ROOT, p), "rb").read())
    for need in ('//link[@rel="canonical"]/@href', '//meta[@property="og:url"]/@content', '//meta[@property="article:published_time"]/@content', "/html/@lang"):
        if not doc.xpath(need):
            err("%s lacks %s" % (p, need))

gt = tomllib.load(open(os.path.join(ROOT, "ground_truth.toml"), "rb"))
src = tomllib.load(open(os.path.join(ROOT, "sources.toml"), "rb"))
for s in src["sources"]:
    if s["kind"] == "html":
        k = s["url"].replace("{base}/", "")
        keys[k] = "html"
labelled = {}
for e in gt["event"]:
    assert e["category"] in {"capital", "security-access", "infrastructure", "on-device", "open-source", "agents", "research", "policy", "product"}
    assert e["verification"] in {"verified-by-official", "corroborated", "unverified"}
    if len(e["items"]) < 2 and not e.get("single_source"):
        err("event %s has < 2 items" % e["id"])
    for k in e["items"]:
        if k in labelled:
            err("%s in two events" % k)
        labelled[k] = e["id"]
for k in gt["noise"] + gt["out_of_window"]:
    if k in labelled:
        err("%s both labelled and noise/out-of-window" % k)
    labelled[k] = "-"
for k in labelled:
    if k not in keys:
        err("ground truth key not in corpus: %s" % k)
for k in keys:
    if k not in labelled:
        err("corpus item not labelled: %s (%s)" % (k, keys[k]))
for dp in gt["duplicate"]:
    for k in (dp["a"], dp["b"]):
        if k not in keys:
            err("duplicate key missing %s" % k)
for x in gt["x_signal"]:
    assert x["tweet_id"] in keys
for p in gt["page"]:
    assert os.path.exists(os.path.join(SITE, p["path"])), p["path"]
assert set(gt["top5"]) <= {e["id"] for e in gt["event"]}
cases = tomllib.load(open(os.path.join(ROOT, "hostile", "cases.toml"), "rb"))["case"]
for c in cases:
    if c.get("file") and not os.path.exists(os.path.join(ROOT, "hostile", c["file"])):
        err("hostile file missing " + c["file"])
    assert c["expected"] in ("dead-letter", "salvage", "refuse-fetch")
size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(ROOT, "**", "*"), recursive=True) if os.path.isfile(p))
print("items %d (labelled %d), events %d, pages %d, hostile cases %d, corpus bytes %d" % (len(keys), len(labelled), len(gt["event"]), len(pages), len(cases), size))
if errors:
    print("\n".join(errors))
    sys.exit(1)
print("OK")
