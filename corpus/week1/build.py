import json, os, shutil, sys
sys.path.insert(0, os.path.dirname(__file__))
from common import *
from official import OFFICIAL
from media import MEDIA
from zh import ZH
import xposts
from arxiv_data import PAPERS

if os.path.exists(SITE):
    shutil.rmtree(SITE)

ART = {}
ART.update(OFFICIAL)
ART.update(MEDIA)
ART.update(ZH)


def link_of(a):
    return "{base}/" + a["page"] + a.get("link_query", "")


# ------------------------------------------------------------------ pages
RELATED = {
    "en": [("OpenAI raises $122 billion to accelerate AI", "https://openai.com/index/accelerating-the-next"),
           ("Announcing Gemma 4 in AI Core Developer Preview", "https://android-developers.googleblog.com/2026/04/02/announcing-gemma-4-in-ai-core-developer-preview.html"),
           ("Safetensors is Joining the PyTorch Foundation", "https://huggingface.co/blog/safetensors-joins-pytorch")],
    "zh": [("OpenAI 完成 1220 亿美元融资", "{base}/pages/xinzhi/article/2026040108.html"),
           ("微软在日本投资 100 亿美元", "{base}/pages/xinzhi/article/2026040315.html"),
           ("safetensors 加入 PyTorch 基金会", "{base}/pages/xinzhi/article/2026040911.html")],
}
pages_written = []
for k, a in ART.items():
    if a.get("no_page"):
        continue
    zh = SITES[a["site"]]["lang"].startswith("zh")
    rel = [r for r in RELATED["zh" if zh else "en"] if r[1] != a["canonical"]][:3]
    charset = a.get("charset", "utf-8")
    html_ = page(a["site"], a["title"], a["canonical"], a["published"], paras(a["body"]), a["summary"],
                 author=a.get("author", ""), related=rel, charset=charset, section=a.get("section", "News"))
    enc = {None: "utf-8", "utf-8": "utf-8", "gbk": "gbk", "gb18030": "gb18030"}[charset]
    write("site/" + a["page"], html_.encode(enc, errors="strict"))
    pages_written.append(a["page"])


def items_for(feed):
    its = [a for a in ART.values() if a.get("feed") == feed]
    return sorted(its, key=lambda a: a["published"], reverse=True)


def cdata(s):
    return "<![CDATA[" + s.replace("]]>", "]]]]><![CDATA[>") + "]]>"


# ------------------------------------------------------------------ RSS 2.0
def rss2(feed, title, site_link, desc, lang, full_content=False, generator=None, extra_ns="", creator=True, image=None):
    its = items_for(feed)
    last = its[0]["published"]
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"%s>' % extra_ns,
           '<channel>',
           '  <title>%s</title>' % esc(title),
           '  <link>%s</link>' % esc(site_link),
           '  <description>%s</description>' % esc(desc),
           '  <language>%s</language>' % lang,
           '  <lastBuildDate>%s</lastBuildDate>' % rfc822(last),
           '  <atom:link href="{base}/feeds/%s.xml" rel="self" type="application/rss+xml"/>' % feed]
    if generator:
        out.append('  <generator>%s</generator>' % esc(generator))
    if image:
        out.append('  <image><url>%s</url><title>%s</title><link>%s</link></image>' % (esc(image), esc(title), esc(site_link)))
    out.append('  <ttl>60</ttl>')
    for a in its:
        out.append('  <item>')
        out.append('    <title>%s</title>' % esc(a["title"]))
        out.append('    <link>%s</link>' % esc(link_of(a)))
        out.append('    <guid isPermaLink="false">%s</guid>' % esc(a["guid"]))
        out.append('    <pubDate>%s</pubDate>' % rfc822(a["published"]))
        if creator and a.get("author"):
            out.append('    <dc:creator>%s</dc:creator>' % cdata(a["author"]))
        out.append('    <category>%s</category>' % esc(a.get("section", "News")))
        out.append('    <description>%s</description>' % cdata(a["summary"]))
        if full_content:
            out.append('    <content:encoded>%s</content:encoded>' % cdata(paras(a["body"])))
        out.append('  </item>')
    out += ['</channel>', '</rss>', '']
    write("site/feeds/%s.xml" % feed, "\n".join(out))


# pubDate variety: the OpenAI feed carries -0700, Hugging Face +0000, Microsoft +0900, 新智观察 +0800, ai-wire mixed
rss2("openai-news", "OpenAI News", "https://openai.com/news", "The OpenAI blog", "en-us")
rss2("huggingface-blog", "Hugging Face - Blog", "https://huggingface.co/blog", "Hugging Face Blog", "en", creator=False)
rss2("microsoft-source-asia", "Microsoft Stories Asia", "https://news.microsoft.com/source/asia/", "News, features and announcements from Microsoft in Asia",
     "en-US", full_content=True, generator="https://wordpress.org/?v=6.8.1")
rss2("anthropic-news", "Anthropic News", "https://www.anthropic.com/news", "Announcements and updates from Anthropic", "en")
rss2("ai-wire", "AI Wire", "https://www.ai-wire.news/", "Daily news on models, chips, policy and the business of AI", "en",
     full_content=True, generator="https://wordpress.org/?v=6.7.2", image="https://www.ai-wire.news/wp-content/uploads/logo-144.png")
rss2("xinzhi-guancha", "新智观察", "https://www.xinzhi-guancha.cn/", "专注人工智能前沿与产业的科技媒体", "zh-cn")

# ------------------------------------------------------------------ Atom 1.0 (Android Developers Blog, Blogger style)
its = items_for("android-developers-blog")
atom = ['<?xml version="1.0" encoding="UTF-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:openSearch="http://a9.com/-/spec/opensearchrss/1.0/" xmlns:blogger="http://schemas.google.com/blogger/2008">',
        '  <id>tag:blogger.com,1999:blog-6755709643044947179</id>',
        '  <updated>%s</updated>' % iso(its[0]["published"]),
        '  <category term="AI"/>', '  <category term="Gemma"/>',
        '  <title type="text">Android Developers Blog</title>',
        '  <subtitle type="html">News and insights on the Android platform, developer tools, and events.</subtitle>',
        '  <link rel="alternate" type="text/html" href="https://android-developers.googleblog.com/"/>',
        '  <link rel="self" type="application/atom+xml" href="{base}/feeds/android-developers-blog.xml"/>',
        '  <author><name>Android Developers</name><uri>https://www.blogger.com/profile/08588467489110681140</uri></author>',
        '  <generator version="7.00" uri="https://www.blogger.com">Blogger</generator>',
        '  <openSearch:totalResults>%d</openSearch:totalResults>' % len(its),
        '  <openSearch:startIndex>1</openSearch:startIndex>', '  <openSearch:itemsPerPage>25</openSearch:itemsPerPage>']
for a in its:
    atom += ['  <entry>',
             '    <id>%s</id>' % a["guid"],
             '    <published>%s</published>' % iso(a["published"]),
             '    <updated>%s</updated>' % iso(a["published"]),
             '    <category scheme="http://www.blogger.com/atom/ns#" term="Gemma"/>',
             '    <category scheme="http://www.blogger.com/atom/ns#" term="AI"/>',
             '    <title type="text">%s</title>' % esc(a["title"])]
    if a["key"] == "gemma-agentic":  # this entry carries the full post
        atom.append('    <content type="html">%s</content>' % esc(paras(a["body"])))
    else:  # summary only: the connector must follow the alternate link
        atom.append('    <summary type="text">%s</summary>' % esc(a["summary"]))
    atom += ['    <link rel="alternate" type="text/html" href="%s" title="%s"/>' % (esc(link_of(a)), esc(a["title"])),
             '    <link rel="replies" type="text/html" href="%s#comment-form" title="0 Comments"/>' % esc(link_of(a)),
             '    <author><name>%s</name></author>' % esc(a["author"]),
             '  </entry>']
atom += ['</feed>', '']
write("site/feeds/android-developers-blog.xml", "\n".join(atom))

# ------------------------------------------------------------------ RSS 1.0 / RDF (Bloomberg)
its = items_for("bloomberg-technology")
rdf = ['<?xml version="1.0" encoding="UTF-8"?>',
       '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:syn="http://purl.org/rss/1.0/modules/syndication/">',
       '  <channel rdf:about="{base}/feeds/bloomberg-technology.xml">',
       '    <title>Bloomberg Technology</title>',
       '    <link>https://www.bloomberg.com/technology</link>',
       '    <description>Technology news from Bloomberg</description>',
       '    <dc:language>en</dc:language>', '    <dc:publisher>Bloomberg L.P.</dc:publisher>',
       '    <dc:date>%s</dc:date>' % iso(its[0]["published"]),
       '    <syn:updatePeriod>hourly</syn:updatePeriod>', '    <syn:updateFrequency>1</syn:updateFrequency>',
       '    <items>', '      <rdf:Seq>']
rdf += ['        <rdf:li rdf:resource="%s"/>' % esc(a["guid"]) for a in its]
rdf += ['      </rdf:Seq>', '    </items>', '  </channel>']
for a in its:
    rdf += ['  <item rdf:about="%s">' % esc(a["guid"]),
            '    <title>%s</title>' % esc(a["title"]),
            '    <link>%s</link>' % esc(link_of(a)),
            '    <description>%s</description>' % esc(a["summary"]),
            '    <dc:creator>%s</dc:creator>' % esc(a["author"]),
            '    <dc:subject>Technology</dc:subject>',
            '    <dc:date>%s</dc:date>' % iso(a["published"]),
            '  </item>']
rdf += ['</rdf:RDF>', '']
write("site/feeds/bloomberg-technology.xml", "\n".join(rdf))

# ------------------------------------------------------------------ X pages
users = xposts.USERS
by_key = {}
posts = []
for key, handle, t, lang, text, url, event, m, ref in xposts.POSTS:
    when = d(t.replace("Z", "+00:00"))
    pid = xposts.snowflake(when, seq=len(posts) % 4)
    p = {"key": key, "handle": handle, "when": when, "lang": lang, "url": url, "event": event, "id": pid, "ref": ref, "m": m}
    by_key[key] = p
    posts.append(p)
assert all(int(a["id"]) < int(b["id"]) for a, b in zip(posts, posts[1:]))
for p, row in zip(posts, xposts.POSTS):
    text = row[4]
    ents = None
    if text == "RT":
        orig = by_key[p["ref"][1]]
        p["text"] = "RT @%s: %s" % (orig["handle"], orig["text"])
        p["entities"] = orig.get("entities")
        p["conversation_id"] = p["id"]
    else:
        if p["url"]:
            short = xposts.tco()
            i = text.index("{url}")
            text = text.replace("{url}", short)
            ents = {"urls": [{"start": len(text[:i]), "end": len(text[:i]) + len(short), "url": short,
                              "expanded_url": p["url"], "display_url": xposts.display(p["url"])}]}
        p["text"] = text
        p["entities"] = ents
        p["conversation_id"] = p["id"]
    if p["ref"] and p["ref"][0] == "quoted":
        pass


def tweet_json(p):
    like, rt, reply, quote, bm, imp = p["m"]
    o = {"id": p["id"], "text": p["text"], "author_id": users[p["handle"]][0],
         "created_at": p["when"].strftime("%Y-%m-%dT%H:%M:%S.000Z"), "lang": p["lang"],
         "conversation_id": p["conversation_id"], "edit_history_tweet_ids": [p["id"]]}
    if p["ref"]:
        o["referenced_tweets"] = [{"type": p["ref"][0], "id": by_key[p["ref"][1]]["id"]}]
    if p["entities"]:
        o["entities"] = p["entities"]
    o["public_metrics"] = {"retweet_count": rt, "reply_count": reply, "like_count": like, "quote_count": quote,
                           "bookmark_count": bm, "impression_count": imp}
    return o


newest_first = list(reversed(posts))
chunks, i = [], 0
for n in xposts.PAGE_SIZES:
    chunks.append(newest_first[i:i + n]); i += n
assert i == len(posts)
names = ["first"] + xposts.TOKENS
for ci, chunk in enumerate(chunks):
    handles = []
    for p in chunk:
        if p["handle"] not in handles:
            handles.append(p["handle"])
        if p["ref"] and by_key[p["ref"][1]]["handle"] not in handles:
            handles.append(by_key[p["ref"][1]]["handle"])
    ref_tweets = [tweet_json(by_key[p["ref"][1]]) for p in chunk if p["ref"]]
    body = {"data": [tweet_json(p) for p in chunk],
            "includes": {"users": [{"id": users[h][0], "name": users[h][1], "username": h, "verified": users[h][2]} for h in handles]},
            "meta": {"newest_id": chunk[0]["id"], "oldest_id": chunk[-1]["id"], "result_count": len(chunk)}}
    if ref_tweets:
        seen = set(); body["includes"]["tweets"] = []
        for t in ref_tweets:
            if t["id"] not in seen:
                seen.add(t["id"]); body["includes"]["tweets"].append(t)
    if ci + 1 < len(chunks):
        body["meta"]["next_token"] = xposts.TOKENS[ci]
    write("site/x/ai-frontier/page-%s.json" % names[ci], json.dumps(body, ensure_ascii=False, indent=2) + "\n")

# ------------------------------------------------------------------ arXiv API pages
def arxiv_entry(pp):
    auth = "\n".join("    <author>\n      <name>%s</name>\n    </author>" % esc(a) for a in pp["authors"])
    cats = "\n".join('    <category term="%s" scheme="http://arxiv.org/schemas/atom"/>' % c for c in pp["cats"])
    vid = "%sv%d" % (pp["id"], pp["v"])
    return f"""  <entry>
    <id>http://arxiv.org/abs/{vid}</id>
    <updated>{pp['updated']}</updated>
    <published>{pp['published']}</published>
    <title>{esc(pp['title'])}</title>
    <summary>  {esc(pp['summary'])}
</summary>
{auth}
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">{'v2: adds real-robot experiments. ' if pp['v'] > 1 else ''}{8 + len(pp['authors'])} pages, {3 + len(pp['cats'])} figures</arxiv:comment>
    <link href="http://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{vid}" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{pp['primary']}" scheme="http://arxiv.org/schemas/atom"/>
{cats}
  </entry>"""


Q = "search_query%3Dcat%3Acs.AI%20OR%20cat%3Acs.RO%20OR%20cat%3Acs.CR%20OR%20cat%3Acs.LG%20OR%20cat%3Acs.CV%26id_list%3D%26start%3D{s}%26max_results%3D5"
for start in (0, 5):
    chunk = PAPERS[start:start + 5]
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?{Q.format(s=start)}" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=cat:cs.AI OR cat:cs.RO OR cat:cs.CR OR cat:cs.LG OR cat:cs.CV&amp;id_list=&amp;start={start}&amp;max_results=5</title>
  <id>http://arxiv.org/api/{'Xo1nq0Fh3bXy7cY3Wl8sMUmZ2yE' if start == 0 else 'q3GZ0n5cD3kN0pPqjL7iQ1WvH8o'}</id>
  <updated>2026-04-19T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(PAPERS)}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{start}</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">5</opensearch:itemsPerPage>
{chr(10).join(arxiv_entry(pp) for pp in chunk)}
</feed>
"""
    write("site/arxiv/page-%d.xml" % start, body)

json.dump({"pages": pages_written, "posts": {p["key"]: p["id"] for p in posts},
           "post_meta": {p["key"]: {"handle": p["handle"], "when": iso(p["when"]), "event": p["event"]} for p in posts}},
          open(INDEX, "w"), indent=1)
print("pages", len(pages_written), "posts", len(posts))
