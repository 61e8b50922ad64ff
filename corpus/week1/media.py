"""Media coverage (English). Consistent with the official facts; opinions are the outlets' own."""
from common import d

MEDIA = {}


def add(key, **kw):
    kw["key"] = key
    MEDIA[key] = kw


# ---------------------------------------------------------------- Bloomberg (RSS 1.0 / RDF)
add("bbg-openai",
    event="openai-funding-122b", site="bloomberg", feed="bloomberg-technology",
    guid="https://www.bloomberg.com/news/articles/2026-03-31/openai-raises-122-billion-in-round-valuing-it-at-852-billion",
    title="OpenAI Raises $122 Billion in Round Valuing It at $852 Billion",
    canonical="https://www.bloomberg.com/news/articles/2026-03-31/openai-raises-122-billion-in-round-valuing-it-at-852-billion",
    page="pages/bloomberg/news/articles/2026-03-31/openai-raises-122-billion.html",
    published=d("2026-03-31T18:05:00+00:00"), author="Bloomberg News", section="Technology",
    summary="OpenAI said it closed a funding round with $122 billion in committed capital, valuing the ChatGPT maker at $852 billion after the investment.",
    body="""
OpenAI said it closed a funding round with $122 billion in committed capital, valuing the ChatGPT maker at $852 billion after the investment and cementing its position as the best-funded company in artificial intelligence.

The company said in a blog post on Tuesday that it now brings in $2 billion in revenue a month, and described its business as a flywheel in which consumer use, enterprise deployments, its developer platform and computing capacity reinforce each other.

The size of the round underscores how much capital is needed to compete at the frontier of AI, where companies are committing to data center capacity years in advance. OpenAI said a large share of the money is earmarked for compute.

OpenAI didn't disclose the full list of investors in the blog post.
""")

add("bbg-msjapan",
    event="microsoft-japan-10b", site="bloomberg", feed="bloomberg-technology",
    guid="https://www.bloomberg.com/news/articles/2026-04-03/microsoft-charts-10-billion-investment-plan-in-ai-hungry-japan",
    title="Microsoft Charts $10 Billion Investment Plan in AI-Hungry Japan",
    canonical="https://www.bloomberg.com/news/articles/2026-04-03/microsoft-charts-10-billion-investment-plan-in-ai-hungry-japan",
    page="pages/bloomberg/news/articles/2026-04-03/microsoft-charts-10-billion-investment-plan-in-ai-hungry-japan.html",
    published=d("2026-04-03T03:12:00+00:00"), author="Bloomberg News", section="Technology",
    summary="Microsoft plans to invest $10 billion in Japan from 2026 through 2029 to expand AI infrastructure, work with the government on cybersecurity and train workers.",
    body="""
Microsoft Corp. plans to invest $10 billion in Japan from 2026 through 2029, expanding its artificial intelligence infrastructure in one of Asia's biggest cloud markets as demand for computing power climbs.

The spending will cover data center capacity, cybersecurity cooperation with Japanese government bodies and training, the company said Friday. Microsoft aims to train more than 1 million engineers, developers and workers in the country by 2030.

Japan has become a focus for US cloud providers as companies there accelerate AI adoption. Microsoft cited its own research showing that nearly one in five working-age people in Japan already use generative AI and that 94% of Nikkei 225 companies use its Microsoft 365 Copilot assistant.
""")

# ---------------------------------------------------------------- AI Wire (RSS 2.0, full content)
add("aw-funding",
    event="openai-funding-122b", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-01-openai-122b",
    title="OpenAI's $122 billion round resets the price of staying at the frontier",
    canonical="https://www.ai-wire.news/2026/04/01/openai-122-billion-round/",
    page="pages/ai-wire/2026/04/01/openai-122-billion-round.html",
    published=d("2026-04-01T06:00:00+00:00"), author="Dana Whitfield", section="Startups",
    summary="OpenAI closed a $122 billion round at an $852 billion post-money valuation and says it now makes $2 billion a month.",
    body="""
OpenAI has closed a funding round of $122 billion in committed capital at a post-money valuation of $852 billion, the company announced on March 31.

The numbers are large even by the standards of the current AI boom. OpenAI also disclosed that it now generates $2 billion in revenue per month and framed its strategy as a flywheel linking ChatGPT's consumer reach, enterprise deployments, the developer platform and compute supply.

The company argued that the lasting advantage in AI will come from durable access to compute. For rivals, the message is blunt: competing for the frontier now requires capital on a scale only a handful of companies can raise.

For startups and enterprise buyers, analysts say, the practical opportunity is shifting to the layers around foundation models: industry delivery, workflow tooling, data governance and local deployment.
""")

add("aw-msjapan",
    event="microsoft-japan-10b", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-03-microsoft-japan",
    title="Microsoft to pour $10 billion into Japan's AI build-out through 2029",
    canonical="https://www.ai-wire.news/2026/04/03/microsoft-japan-10-billion/",
    page="pages/ai-wire/2026/04/03/microsoft-japan-10-billion.html",
    published=d("2026-04-03T05:30:00+00:00"), author="Kenji Mori", section="Chips",
    summary="The package spans data centers, cybersecurity cooperation with the government and training for more than 1 million people by 2030.",
    body="""
Microsoft will invest $10 billion in Japan between 2026 and 2029, the company said on April 3, in a package that bundles AI infrastructure, cybersecurity cooperation with Japanese institutions and a skills programme.

The company plans to train more than 1 million engineers, developers and workers by 2030. Citing its AI Vision Report, Microsoft said nearly one in five working-age people in Japan already use generative AI, and that 94% of Nikkei 225 companies use Microsoft 365 Copilot.

The deal fits a pattern of national-scale AI packages, in which cloud providers sell local compute, security cooperation and workforce training together rather than a single product.
""")

add("aw-safetensors",
    event="safetensors-pytorch-foundation", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-09-safetensors-pytorch",
    title="Safetensors moves under the PyTorch Foundation's roof",
    canonical="https://www.ai-wire.news/2026/04/09/safetensors-pytorch-foundation/",
    page="pages/ai-wire/2026/04/09/safetensors-pytorch-foundation.html",
    published=d("2026-04-09T03:00:00-07:00"), author="Priya Raman", section="Models",
    summary="Hugging Face hands the safe weight format's trademark, repo and governance to the Linux Foundation-hosted PyTorch Foundation.",
    body="""
Hugging Face said on April 8 that safetensors, the weight-file format it created to avoid the arbitrary code execution risk of pickle, has joined the PyTorch Foundation as a foundation-hosted project under the Linux Foundation.

The trademark, repository and governance move to the foundation. The published roadmap includes device-aware loading, direct loading to CUDA and ROCm, and support for more hardware-accelerated formats.

The move matters less for what changes today than for what it signals: open-model competition is increasingly about who defines trusted loading and distribution standards, not just who ships the most weights.
""")

add("aw-gemma",
    event="gemma-4-ai-core", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-13-gemma-4-aicore",
    title="Gemma 4 lands in Android's AI Core: what developers get in the preview",
    canonical="https://www.ai-wire.news/2026/04/13/gemma-4-android-ai-core/",
    page="pages/ai-wire/2026/04/13/gemma-4-android-ai-core.html",
    published=d("2026-04-13T06:00:00-07:00"), author="Leo Park", section="Models",
    summary="Up to 4x faster, 140+ languages, and tool calling on the way: Google is making Gemma 4 the base of Gemini Nano 4.",
    body="""
Less than two weeks after Google put Gemma 4 into the AI Core Developer Preview, developers are getting a clearer picture of what on-device AI on Android will look like.

According to the Android Developers Blog post of April 2, Gemma 4 runs up to 4x faster than the previous generation on supported devices with significantly lower battery use, supports more than 140 languages and understands images as well as text. Tool calling, structured output, system prompts and a thinking mode are promised during the preview.

Google says Gemma 4 will be the foundation of Gemini Nano 4 on upcoming flagship devices, and a companion post positions it as the base for local agentic intelligence on Android.
""")

CYBER_BODY = """
OpenAI on Tuesday expanded its Trusted Access for Cyber program to thousands of verified individual defenders and hundreds of teams that protect critical software, and introduced GPT-5.4-Cyber, a model fine-tuned for defensive cybersecurity.

GPT-5.4-Cyber has a broader cyber capability boundary than OpenAI's general models, but it is only available after identity verification, and access is tiered. OpenAI said the program is also part of its preparation for releasing more capable models.

Security vendors told AI Wire the tiered approach could become a template: buyers will increasingly ask not only whether a tool finds vulnerabilities, but whether the vendor can verify users, audit access and limit use.
"""
add("aw-cyber",
    event="openai-trusted-access-cyber", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-14-openai-gpt-5-4-cyber",
    title="OpenAI widens Trusted Access for Cyber, debuts GPT-5.4-Cyber for vetted defenders",
    canonical="https://www.ai-wire.news/2026/04/14/openai-gpt-5-4-cyber/",
    page="pages/ai-wire/2026/04/14/openai-gpt-5-4-cyber.html",
    published=d("2026-04-14T18:30:00+00:00"), author="Marcus Lee", section="Policy",
    summary="Identity verification and access tiers gate the defensive model.", body=CYBER_BODY)
# exact duplicate: re-syndicated with a new guid and a tracking-parameter link, same title and body
add("aw-cyber-dup",
    event="openai-trusted-access-cyber", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-14-openai-gpt-5-4-cyber-syndicated",
    title="OpenAI widens Trusted Access for Cyber, debuts GPT-5.4-Cyber for vetted defenders",
    canonical="https://www.ai-wire.news/2026/04/14/openai-gpt-5-4-cyber/",
    page="pages/ai-wire/2026/04/14/openai-gpt-5-4-cyber.html", link_query="?utm_source=rss&utm_medium=syndication",
    published=d("2026-04-14T18:30:00+00:00"), author="Marcus Lee", section="Policy",
    summary="Identity verification and access tiers gate the defensive model.", body=CYBER_BODY, no_page=True)

add("aw-recipe",
    event=None, site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-15-sponsored-lemon-chicken",
    title="Recipe: one-pan lemon garlic chicken for busy weeknights",
    canonical="https://www.ai-wire.news/2026/04/15/sponsored-lemon-garlic-chicken/",
    page="pages/ai-wire/2026/04/15/sponsored-lemon-garlic-chicken.html",
    published=d("2026-04-15T11:00:00+00:00"), author="AI Wire Partner Content", section="Sponsored",
    summary="Thirty minutes, one pan, and a squeeze of lemon: our partner's favourite weeknight dinner.",
    body="""
This sponsored recipe comes from our partners at a meal-kit service.

Season four chicken thighs with salt, pepper and smoked paprika. Sear them skin-side down in a hot pan for six minutes until golden, then turn them over.

Add six crushed garlic cloves, a sliced lemon and a handful of baby potatoes. Roast everything in the same pan at 200C for 25 minutes.

Finish with chopped parsley and the pan juices. Serves four.
""")

add("aw-rsp",
    event="anthropic-rsp-update", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-16-anthropic-rsp",
    title="Anthropic tightens its Responsible Scaling Policy as agents spread",
    canonical="https://www.ai-wire.news/2026/04/16/anthropic-responsible-scaling-policy-update/",
    page="pages/ai-wire/2026/04/16/anthropic-responsible-scaling-policy-update.html",
    published=d("2026-04-15T19:00:00-07:00"), author="Marcus Lee", section="Policy",
    summary="Clearer thresholds, more detailed risk reports and tiered access for sensitive capabilities.",
    body="""
Anthropic has published an update to its Responsible Scaling Policy, the framework that ties the safeguards around its models to their capabilities.

The revision sharpens the capability thresholds that trigger stronger safeguards, commits to more detailed risk reports alongside major releases, adds verification and tiered access for high-risk use cases, and sets out a process for external review.

Coming a day after OpenAI's tiered release of GPT-5.4-Cyber, the update reinforces a trend: governance documents, identity checks and access tiers are becoming part of what enterprises evaluate before they buy.
""")

CODEX_BODY = """
OpenAI on Thursday released "Codex for (almost) everything", extending its coding agent from writing code to long-running work across the tools teams already use.

Codex can now run tasks for hours in the cloud with permissions users grant per tool, and keeps an activity log so teams can audit what it did. OpenAI said last week that enterprise now accounts for more than 40% of its revenue.

The launch moves Codex from a copilot inside the IDE toward an execution layer for workflows, a shift that will put permissions, audit trails and responsibility boundaries at the centre of enterprise agent deployments.
"""
add("aw-codex",
    event="openai-codex-everything", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-17-openai-codex-almost-everything",
    title="OpenAI pushes Codex beyond code with 'Codex for (almost) everything'",
    canonical="https://www.ai-wire.news/2026/04/17/openai-codex-almost-everything/",
    page="pages/ai-wire/2026/04/17/openai-codex-almost-everything.html",
    published=d("2026-04-16T18:10:00-07:00"), author="Dana Whitfield", section="Models",
    summary="The coding agent now takes on long-running tasks across work tools, with per-tool permissions and activity logs.",
    body=CODEX_BODY)
# near duplicate: the outlet re-posted an edited version under a new guid
add("aw-codex-near",
    event="openai-codex-everything", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-17-openai-codex-almost-everything-v2",
    title="OpenAI pushes Codex beyond coding with 'Codex for (almost) everything' (updated)",
    canonical="https://www.ai-wire.news/2026/04/17/openai-codex-almost-everything-updated/",
    page="pages/ai-wire/2026/04/17/openai-codex-almost-everything-updated.html",
    published=d("2026-04-16T21:40:00-07:00"), author="Dana Whitfield", section="Models",
    summary="The coding agent now handles long-running tasks across work tools, with per-tool permissions and activity logs.",
    body=CODEX_BODY.replace("on Thursday released", "on Thursday launched").replace(
        "a shift that will put", "a shift likely to put") + "\nUpdated with additional detail on permissions.\n")

add("aw-nemotron",
    event="nemotron-ocr-v2", site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-04-18-nvidia-nemotron-ocr-v2",
    title="Nvidia's Nemotron OCR v2 reads mixed-script documents at 34.7 pages a second",
    canonical="https://www.ai-wire.news/2026/04/18/nvidia-nemotron-ocr-v2/",
    page="pages/ai-wire/2026/04/18/nvidia-nemotron-ocr-v2.html",
    published=d("2026-04-18T09:00:00+00:00"), author="Priya Raman", section="Research",
    summary="A single model for English, Chinese, Japanese, Korean and Russian, trained on one million synthetic pages.",
    body="""
Nvidia has released Nemotron OCR v2, a production-ready multilingual OCR model, together with a one-million-sample synthetic dataset covering six languages, in a post on the Hugging Face blog on April 17.

Rather than separate per-language models, Nemotron OCR v2 is a single unified model for English, Chinese, Japanese, Korean and Russian. Nvidia reports 34.7 pages per second on real-world document benchmarks.

For enterprises the interesting part is not the recognition itself but what it enables: turning invoices, forms and archives into clean, ordered input that downstream AI systems can act on.
""")

add("aw-old-chips",
    event=None, site="ai-wire", feed="ai-wire",
    guid="aiwire-2026-02-20-inference-chip-startups",
    title="The quiet rise of inference-only chip startups",
    canonical="https://www.ai-wire.news/2026/02/20/inference-chip-startups/",
    page="pages/ai-wire/2026/02/20/inference-chip-startups.html",
    published=d("2026-02-20T14:00:00+00:00"), author="Kenji Mori", section="Chips",
    summary="A wave of startups is betting that inference, not training, is where the next chip margins are.",
    body="""
Training clusters get the headlines, but a growing group of chip startups is designing silicon only for inference, betting that serving models cheaply will matter more than training them.

Their pitch is simple: most of the compute a successful model consumes over its lifetime is spent answering requests, and inference workloads reward memory bandwidth and efficiency over raw training throughput.
""")

# ---------------------------------------------------------------- older official items outside the window
add("ms-old",
    event=None, site="microsoft", feed="microsoft-source-asia",
    guid="https://news.microsoft.com/source/asia/?p=80133",
    title="Looking back: how Asia's small businesses put AI to work",
    canonical="https://news.microsoft.com/source/asia/features/asia-small-business-ai/",
    page="pages/microsoft/source/asia/features/asia-small-business-ai.html",
    published=d("2026-02-10T09:00:00+08:00"), author="Microsoft Asia News Center", section="Features",
    summary="Stories from bakeries, clinics and logistics firms across Asia that started using AI assistants last year.",
    body="""
From a family bakery in Taipei to a logistics firm in Jakarta, small businesses across Asia spent the past year finding practical uses for AI assistants: drafting quotes, answering customer messages and keeping inventory in order.

We asked a dozen owners what worked, what did not, and what they would tell a business just starting out.
""")

add("anthropic-old",
    event=None, site="anthropic", feed="anthropic-news",
    guid="https://www.anthropic.com/news/claude-for-nonprofits-expansion",
    title="Expanding Claude for Nonprofits",
    canonical="https://www.anthropic.com/news/claude-for-nonprofits-expansion",
    page="pages/anthropic/news/claude-for-nonprofits-expansion.html",
    published=d("2026-03-05T10:00:00-08:00"), author="Anthropic", section="Announcements",
    summary="We are expanding discounted access to Claude for nonprofit organisations.",
    body="""
We are expanding our program that offers discounted access to Claude for nonprofit organisations, and adding training resources for teams that are new to AI.
""")
