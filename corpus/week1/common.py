import datetime as dt, email.utils, html, json, os

# The built corpus lives where the demo finds it, inside the connectors package.
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "connectors", "sample_corpus")
INDEX = os.path.join(__import__("tempfile").gettempdir(), "sample_corpus_index.json")
SITE = os.path.join(OUT, "site")


def tz(h, m=0):
    return dt.timezone(dt.timedelta(hours=h, minutes=m))


UTC = tz(0)
PDT = tz(-7)
CST = tz(8)
JST = tz(9)


def d(s):
    """parse ISO with offset"""
    return dt.datetime.fromisoformat(s)


def rfc822(t):
    return email.utils.format_datetime(t)  # keeps the offset, e.g. -0700


def iso(t):
    return t.isoformat()


def zulu(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(rel, data, encoding="utf-8"):
    p = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if isinstance(data, str):
        data = data.encode(encoding)
    with open(p, "wb") as f:
        f.write(data)
    return p


def esc(s):
    return html.escape(s, quote=True)


def paras(text):
    """blank-line separated paragraphs -> <p> html; lines starting with '## ' -> h2, '- ' -> ul"""
    out = []
    for block in text.strip().split("\n\n"):
        block = block.strip()
        if block.startswith("## "):
            out.append("<h2>%s</h2>" % esc(block[3:]))
        elif block.startswith("- "):
            items = [l[2:].strip() for l in block.split("\n") if l.startswith("- ")]
            out.append("<ul>" + "".join("<li>%s</li>" % esc(i) for i in items) + "</ul>")
        else:
            out.append("<p>%s</p>" % esc(" ".join(block.split("\n"))))
    return "\n".join(out)


# ---------------------------------------------------------------- page template
SITES = {
    "openai": dict(name="OpenAI", lang="en", nav=["Research", "Safety", "ChatGPT", "Sora", "API Platform", "For Business", "Stories", "Company", "News"],
                   footer="OpenAI &copy; 2015&ndash;2026", home="https://openai.com/", cookie="We use cookies to improve your experience and for marketing. Read our Cookie Policy."),
    "android": dict(name="Android Developers Blog", lang="en", nav=["Android", "Develop", "Google Play", "Community", "Android Studio", "Blog"],
                    footer="Content and code samples on this page are subject to the licenses described in the Content License.", home="https://android-developers.googleblog.com/", cookie="This site uses cookies from Google to deliver its services and to analyze traffic."),
    "huggingface": dict(name="Hugging Face", lang="en", nav=["Models", "Datasets", "Spaces", "Community", "Docs", "Enterprise", "Pricing", "Log In", "Sign Up"],
                        footer="&copy; Hugging Face", home="https://huggingface.co/", cookie="We use cookies to offer you a better experience and to analyze site traffic."),
    "microsoft": dict(name="Microsoft Source Asia", lang="en", nav=["Home", "Features", "AI", "Cloud", "Security", "Sustainability", "Press releases", "Contacts"],
                      footer="&copy; Microsoft 2026 &middot; Privacy &amp; Cookies &middot; Terms of use &middot; Trademarks", home="https://news.microsoft.com/source/asia/", cookie="We use optional cookies to improve your experience on our websites and to display personalized advertising."),
    "anthropic": dict(name="Anthropic", lang="en", nav=["Claude", "API", "Research", "Commitments", "Learn", "News", "Try Claude"],
                      footer="&copy; 2026 Anthropic PBC", home="https://www.anthropic.com/", cookie="We use cookies to deliver and improve our services, analyze site usage, and if you agree, to customize or personalize your experience."),
    "bloomberg": dict(name="Bloomberg", lang="en", nav=["Markets", "Economics", "Technology", "AI", "Politics", "Green", "Crypto", "Pursuits", "Subscribe"],
                      footer="&copy;2026 Bloomberg L.P. All Rights Reserved.", home="https://www.bloomberg.com/", cookie="Bloomberg uses cookies and similar technologies to improve your experience. By continuing you accept our use of cookies."),
    "ai-wire": dict(name="AI Wire", lang="en", nav=["Latest", "Models", "Chips", "Policy", "Startups", "Research", "Newsletter"],
                    footer="&copy; 2026 AI Wire Media. All rights reserved.", home="https://www.ai-wire.news/", cookie="AI Wire and our partners use cookies to personalise content and ads. Manage preferences."),
    "xinzhi": dict(name="新智观察", lang="zh-CN", nav=["首页", "快讯", "大模型", "算力", "具身智能", "产业", "专题", "活动"],
                   footer="&copy; 2026 新智观察 版权所有 | 京ICP备2026000000号", home="https://www.xinzhi-guancha.cn/", cookie="本网站使用 Cookie 以提升浏览体验，继续访问即表示您同意我们的 Cookie 政策。"),
    "guiji": dict(name="硅基日报", lang="zh-CN", nav=["首页", "AI 快讯", "模型", "芯片", "应用", "观点", "关于我们"],
                  footer="&copy; 2026 硅基日报 | 沪ICP备2026000001号", home="https://www.guiji-daily.com/", cookie="我们使用 Cookie 来改善您的体验。"),
}


def page(site, title, canonical, published, body_html, description, author="", related=(), charset="utf-8",
         modified=None, section="News", lang=None, extra_head=""):
    """render a full article page with realistic boilerplate. charset=None -> no charset meta at all."""
    s = SITES[site]
    lang = lang or s["lang"]
    nav = "\n".join('        <li><a href="%s%s">%s</a></li>' % (s["home"], esc(n.lower().replace(" ", "-")) if n.isascii() else "", esc(n)) for n in s["nav"])
    rel = "\n".join('        <li><a href="%s">%s</a></li>' % (esc(u), esc(t)) for t, u in related)
    ld = {
        "@context": "https://schema.org", "@type": "NewsArticle", "headline": title, "url": canonical,
        "datePublished": iso(published), "dateModified": iso(modified or published),
        "publisher": {"@type": "Organization", "name": s["name"]},
    }
    if author:
        ld["author"] = [{"@type": "Person", "name": a.strip()} for a in author.split(",")]
    ld_json = json.dumps(ld, ensure_ascii=False).replace("</", "<\\/")
    cs = '  <meta charset="%s">\n' % charset if charset else ""
    byline = '<span class="byline">%s</span> &middot; ' % esc(author) if author else ""
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
{cs}  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{esc(title)} | {esc(s['name'])}</title>
  <meta name="description" content="{esc(description)}">
  <link rel="canonical" href="{esc(canonical)}">
  <meta property="og:type" content="article">
  <meta property="og:site_name" content="{esc(s['name'])}">
  <meta property="og:title" content="{esc(title)}">
  <meta property="og:description" content="{esc(description)}">
  <meta property="og:url" content="{esc(canonical)}">
  <meta property="og:image" content="{esc(s['home'])}static/og/default-share.png">
  <meta property="article:published_time" content="{iso(published)}">
  <meta property="article:modified_time" content="{iso(modified or published)}">
  <meta property="article:section" content="{esc(section)}">
  <meta name="twitter:card" content="summary_large_image">
  <link rel="stylesheet" href="/static/css/site.min.css">
  <link rel="icon" href="/favicon.ico">
{extra_head}  <script type="application/ld+json">{ld_json}</script>
  <script async src="https://www.googletagmanager.com/gtag/js?id=G-7X2K9Q4M1P"></script>
  <script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments);}}gtag('js',new Date());gtag('config','G-7X2K9Q4M1P',{{anonymize_ip:true}});</script>
</head>
<body class="article-page">
  <div id="cookie-banner" class="cookie-banner" role="dialog" aria-live="polite">
    <p>{s['cookie']}</p>
    <button type="button" data-consent="accept">{'全部接受' if lang.startswith('zh') else 'Accept all'}</button>
    <button type="button" data-consent="reject">{'仅必要 Cookie' if lang.startswith('zh') else 'Reject non-essential'}</button>
    <a href="{s['home']}legal/cookies">{'Cookie 设置' if lang.startswith('zh') else 'Cookie settings'}</a>
  </div>
  <header class="site-header">
    <a class="logo" href="{s['home']}">{esc(s['name'])}</a>
    <nav aria-label="Primary">
      <ul>
{nav}
      </ul>
    </nav>
    <form class="search" action="{s['home']}search" role="search"><input type="search" name="q" placeholder="Search"></form>
  </header>
  <main id="main">
    <article class="post">
      <header class="post-header">
        <p class="eyebrow">{esc(section)}</p>
        <h1>{esc(title)}</h1>
        <p class="meta">{byline}<time datetime="{iso(published)}">{published.strftime('%Y-%m-%d %H:%M')}</time></p>
      </header>
      <div class="post-body">
{body_html}
      </div>
      <div class="share">
        <a href="https://x.com/intent/tweet?url={esc(canonical)}">Share on X</a>
        <a href="https://www.linkedin.com/sharing/share-offsite/?url={esc(canonical)}">LinkedIn</a>
      </div>
    </article>
    <aside class="related" aria-label="Related">
      <h2>{'相关阅读' if lang.startswith('zh') else 'Related'}</h2>
      <ul>
{rel}
      </ul>
    </aside>
    <section class="newsletter">
      <h2>{'订阅我们的日报' if lang.startswith('zh') else 'Get the newsletter'}</h2>
      <form action="{s['home']}newsletter/subscribe" method="post"><input type="email" name="email" placeholder="you@example.com"><button>{'订阅' if lang.startswith('zh') else 'Subscribe'}</button></form>
    </section>
  </main>
  <footer class="site-footer">
    <nav aria-label="Footer"><a href="{s['home']}about">About</a> <a href="{s['home']}careers">Careers</a> <a href="{s['home']}privacy">Privacy</a> <a href="{s['home']}terms">Terms</a> <a href="{s['home']}contact">Contact</a></nav>
    <p>{s['footer']}</p>
  </footer>
  <script src="/static/js/vendor.7f3a9c.js" defer></script>
  <script src="/static/js/app.b41d02.js" defer></script>
  <script>document.querySelectorAll('[data-consent]').forEach(function(b){{b.addEventListener('click',function(){{document.getElementById('cookie-banner').remove();}});}});</script>
</body>
</html>
"""
