"""X (Twitter) API v2 posts for the x source 'x-ai-frontier'."""
import random
from common import d

rnd = random.Random(20260420)

USERS = {
    # handle: (id, name, verified)
    "OpenAI": ("4398626122", "OpenAI", True),
    "OpenAIDevs": ("1585311262483169280", "OpenAI Developers", True),
    "AnthropicAI": ("1353836358901501952", "Anthropic", True),
    "GoogleDevs": ("33838201", "Google for Developers", True),
    "googlegemma": ("1760364127813033984", "Google Gemma", True),
    "huggingface": ("778764142412984320", "Hugging Face", True),
    "satyanadella": ("20571756", "Satya Nadella", True),
    "Microsoft": ("74286565", "Microsoft", True),
    "NVIDIAAIDev": ("1354518281406734337", "NVIDIA AI Developer", True),
    "AndrewCurran_": ("1386806914391953409", "Andrew Curran", True),
    "secops_daily": ("1499207744812498945", "SecOps Daily", False),
    "kaito_ml": ("1102938475610293847", "Kaito Saito", False),
    "infra_ledger": ("1422019384756102938", "Infra Ledger", True),
    "liwei_ai": ("1299384756102938471", "李维 | AI 观察", False),
    "anquan_xiaobai": ("1500293847561029384", "安全小白帽", False),
    "dev_zhang": ("1377465829103847562", "张工在写代码", False),
    "policy_wonk_ai": ("1455667788990011223", "Policy Wonk", False),
    "mlx_tinkerer": ("1611223344556677889", "mlx tinkerer", False),
    "docai_sara": ("1588990011223344556", "Sara Lindqvist", False),
    "leakzone_ai": ("1702233445566778899", "LeakZone AI", True),
    "hypemachine_ai": ("1712233445566778800", "AI Hype Machine", True),
    "ai_news_bot": ("1722233445566778811", "AI News Bot", False),
    "keji_xiaodao": ("1533445566778899001", "科技小道消息", False),
    "pitchside_pete": ("1311223344556677880", "Pete at Pitchside", False),
    "crypto_airdrop_king": ("1733445566778899112", "Airdrop King", False),
    "foodie_lin": ("1544556677889900112", "林小厨", False),
}

EPOCH = 1288834974657


def snowflake(t, seq=0, worker=7):
    ms = int(t.timestamp() * 1000)
    return str(((ms - EPOCH) << 22) | (worker << 12) | seq)


def tco():
    return "https://t.co/" + "".join(rnd.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))


def display(u):
    s = u.split("://", 1)[1]
    return s if len(s) <= 25 else s[:24] + "\u2026"


# key, handle, time (UTC), lang, text (use {url} where the link goes), url or None, event, metrics (like, rt, reply, quote, bookmark, impressions), refs
POSTS = [
    ("x01", "kaito_ml", "2026-03-18T14:02:11Z", "en",
     "Reminder: submissions for our workshop on efficient on-device inference close Friday. Short papers welcome, negative results especially. {url}",
     "https://sites.google.com/view/odi-workshop-2026", None, (84, 19, 6, 2, 11, 9120), None),
    ("x02", "OpenAI", "2026-03-31T17:04:30Z", "en",
     "We've raised $122B in committed capital at an $852B post-money valuation to accelerate the next phase of AI. {url}",
     "https://openai.com/index/accelerating-the-next", "openai-funding-122b", (61200, 9800, 4100, 5200, 8800, 21400000), None),
    ("x03", "GoogleDevs", "2026-04-02T16:10:05Z", "en",
     "Gemma 4 is now in the AI Core Developer Preview on Android: up to 4x faster, 140+ languages, multimodal, and the foundation for Gemini Nano 4. Start building \u2192 {url}",
     "https://android-developers.googleblog.com/2026/04/02/announcing-gemma-4-in-ai-core-developer-preview.html", "gemma-4-ai-core", (5400, 1100, 210, 160, 900, 1240000), None),
    ("x04", "satyanadella", "2026-04-03T02:15:40Z", "en",
     "We're investing $10 billion in Japan from 2026 to 2029 in AI infrastructure, cybersecurity and skills, and will help train more than 1 million people by 2030. {url}",
     "https://news.microsoft.com/source/asia/2026/04/03/microsoft-deepens-its-commitment-to-japan-with-10-billion-investment-in-ai-infrastructure/", "microsoft-japan-10b", (14800, 2300, 640, 410, 1200, 3900000), None),
    ("x05", "huggingface", "2026-04-08T14:20:00Z", "en",
     "Safetensors is joining the PyTorch Foundation \U0001f389 The safe, fast format for sharing weights now has neutral governance under the Linux Foundation. {url}",
     "https://huggingface.co/blog/safetensors-joins-pytorch", "safetensors-pytorch-foundation", (3900, 720, 95, 88, 410, 610000), None),
    ("x06", "liwei_ai", "2026-04-13T01:30:22Z", "zh",
     "OpenAI 这轮 1220 亿美元融资、8520 亿美元投后估值，再加上月收入 20 亿美元，说明前沿模型竞争已经进入“超大资本密度”阶段。护城河不再只是模型，而是融资能力 + 算力 + 分发入口。{url}",
     "https://openai.com/index/accelerating-the-next", "openai-funding-122b", (2100, 430, 88, 35, 260, 188000), None),
    ("x07", "infra_ledger", "2026-04-13T09:12:48Z", "en",
     "Microsoft's $10B Japan package is the template for sovereign AI deals: local compute + cybersecurity cooperation + 1M-person skilling + Copilot already in 94% of the Nikkei 225. Expect more country-scale bundles like this.",
     None, "microsoft-japan-10b", (1300, 240, 57, 21, 190, 142000), None),
    ("x08", "pitchside_pete", "2026-04-13T15:40:03Z", "en",
     "The AI offside system got it right tonight and the pundits still moaned. Three points, top of the table, what a derby.",
     None, None, (320, 12, 41, 3, 2, 15800), None),
    ("x09", "OpenAI", "2026-04-14T15:05:10Z", "en",
     "We're expanding Trusted Access for Cyber to thousands of verified defenders and hundreds of teams protecting critical software, and introducing GPT-5.4-Cyber, a model fine-tuned for defensive cybersecurity. {url}",
     "https://openai.com/index/scaling-trusted-access-for-cyber", "openai-trusted-access-cyber", (18900, 3400, 1500, 1900, 2600, 6100000), None),
    ("x10", "AndrewCurran_", "2026-04-14T16:20:31Z", "en",
     "GPT-5.4-Cyber comes with access tiers: verified individual defenders on one level, teams protecting critical software on a higher one. Identity verification first, capability second. Frontier cyber capability is starting to look like a licensed service. {url}",
     "https://openai.com/index/scaling-trusted-access-for-cyber", "openai-trusted-access-cyber", (4700, 880, 230, 140, 620, 890000), ("quoted", "x09")),
    ("x11", "secops_daily", "2026-04-14T18:02:57Z", "en", "RT", None, "openai-trusted-access-cyber", (0, 880, 0, 0, 0, 0), ("retweeted", "x10")),
    ("x12", "anquan_xiaobai", "2026-04-15T02:44:19Z", "zh",
     "GPT-5.4-Cyber 要先做身份验证才能用，还分层授权。以后卖安全 AI 产品，光说能挖洞不够了，身份认证、访问审计、用途边界都得拿得出来。{url}",
     "https://openai.com/index/scaling-trusted-access-for-cyber", "openai-trusted-access-cyber", (860, 150, 47, 12, 95, 61000), None),
    ("x13", "GoogleDevs", "2026-04-15T07:00:00Z", "en",
     "Building with Gemma 4 in the AI Core Developer Preview? Tool calling, structured output, system prompts and thinking mode are coming during the preview. Recap \u2192 {url}",
     "https://android-developers.googleblog.com/2026/04/02/announcing-gemma-4-in-ai-core-developer-preview.html", "gemma-4-ai-core", (1800, 310, 66, 30, 240, 402000), None),
    ("x14", "AnthropicAI", "2026-04-15T15:45:00Z", "en",
     "We're publishing an update to our Responsible Scaling Policy: clearer capability thresholds, more detailed risk reports, stronger access safeguards for high-risk capabilities, and a process for external review. {url}",
     "https://www.anthropic.com/news/updating-our-responsible-scaling-policy", "anthropic-rsp-update", (6200, 1100, 420, 380, 900, 1750000), None),
    ("x15", "policy_wonk_ai", "2026-04-15T19:10:26Z", "en",
     "Read Anthropic's RSP update next to OpenAI's GPT-5.4-Cyber tiers from yesterday. Same direction: verification, access tiers and risk reports are becoming procurement requirements, not PR. {url}",
     "https://www.anthropic.com/news/updating-our-responsible-scaling-policy", "anthropic-rsp-update", (540, 96, 31, 14, 120, 48000), None),
    ("x16", "mlx_tinkerer", "2026-04-16T03:30:44Z", "en",
     "Fine-tuned Gemma 4 multimodal on my MacBook (Apple silicon, MLX) in an afternoon: receipts -> structured JSON, fully local. Notebook + adapters here: {url}",
     "https://github.com/mlx-tinkerer/gemma4-mlx-multimodal-finetune", "gemma-4-apple-silicon-finetune", (2600, 480, 120, 90, 1400, 330000), None),
    ("x17", "googlegemma", "2026-04-16T08:15:12Z", "en",
     "Love this: multimodal fine-tuning of Gemma 4 running locally on Apple silicon, shared by the community days after launch. \U0001f48e {url}",
     "https://github.com/mlx-tinkerer/gemma4-mlx-multimodal-finetune", "gemma-4-apple-silicon-finetune", (3100, 520, 80, 60, 700, 520000), ("quoted", "x16")),
    ("x18", "OpenAIDevs", "2026-04-16T15:20:00Z", "en",
     "Codex for (almost) everything. Codex can now take on long-running work across the tools you already use, with per-tool permissions and a full activity log. {url}",
     "https://openai.com/index/codex-for-almost-everything/", "openai-codex-everything", (9700, 1600, 700, 520, 2100, 2800000), None),
    ("x19", "dev_zhang", "2026-04-17T01:05:37Z", "zh",
     "Codex 这次更新的重点不是写代码更快，而是能接权限、接工具、跑长时任务。coding agent 正在变成跨工具的知识型操作员。{url}",
     "https://openai.com/index/codex-for-almost-everything/", "openai-codex-everything", (720, 130, 40, 18, 150, 52000), None),
    ("x20", "NVIDIAAIDev", "2026-04-17T15:30:00Z", "en",
     "Introducing Nemotron OCR v2: one unified model for English, Chinese, Japanese, Korean and Russian, trained on a 1M-sample synthetic dataset, at 34.7 pages/s on real documents. {url}",
     "https://huggingface.co/blog/nvidia/nemotron-ocr-v2", "nemotron-ocr-v2", (2400, 470, 60, 45, 800, 410000), None),
    ("x21", "docai_sara", "2026-04-17T20:00:09Z", "en",
     "34.7 pages/s for multilingual OCR in a single model is the number that matters for anyone running document pipelines. Synthetic rendering is quietly becoming the default way to cover CJK. {url}",
     "https://huggingface.co/blog/nvidia/nemotron-ocr-v2", "nemotron-ocr-v2", (410, 70, 19, 8, 160, 33000), None),
    ("x22", "leakzone_ai", "2026-04-18T04:10:55Z", "en",
     "\U0001f6a8 SCOOP: OpenAI has finished training GPT-6 and will ship it on April 28, per two people familiar with an internal memo. Announcement event already booked. More soon.",
     None, "rumour-gpt-6-april-28", (48300, 11200, 5600, 3900, 4100, 14800000), None),
    ("x23", "hypemachine_ai", "2026-04-18T05:30:21Z", "en",
     "If the GPT-6 on April 28 leak is real, every roadmap in the industry just got rewritten. Huge if true.",
     None, "rumour-gpt-6-april-28", (9100, 1500, 880, 240, 300, 2100000), ("quoted", "x22")),
    ("x24", "ai_news_bot", "2026-04-18T06:00:02Z", "en", "RT", None, "rumour-gpt-6-april-28", (0, 11200, 0, 0, 0, 0), ("retweeted", "x22")),
    ("x25", "keji_xiaodao", "2026-04-18T09:00:40Z", "zh",
     "网传 OpenAI 已完成 GPT-6 训练、将于 4 月 28 日发布，消息来源是一个爆料账号。目前 OpenAI 官网和官方账号都没有任何相关消息，大家理性看待。",
     None, "rumour-gpt-6-april-28", (3300, 610, 420, 95, 210, 390000), None),
    ("x26", "crypto_airdrop_king", "2026-04-18T12:00:00Z", "en",
     "\U0001f680 AI TOKEN AIRDROP LIVE \U0001f680 first 10,000 wallets get 500 $AIX free, connect now before it's gone: {url}",
     "https://aix-airdrop-claim.example/claim", None, (45, 300, 2, 0, 0, 9100), None),
    ("x27", "kaito_ml", "2026-04-18T14:30:15Z", "en",
     "Action Images v2 is up. Turning 7-DoF actions into multi-view images grounded in 2D pixels means the video backbone itself becomes the zero-shot policy, no separate policy head. Worth a read for anyone doing robot learning. {url}",
     "https://arxiv.org/abs/2604.06168", "arxiv-2604.06168", (690, 140, 22, 11, 380, 61000), None),
    ("x28", "infra_ledger", "2026-04-19T02:00:33Z", "en",
     "Underrated story of the month: Gemma 4 in Android AI Core. Open model + system API + Gemini Nano 4 hardware path means on-device becomes the default, not a demo. Whoever ships local OCR, summarisation and light agents first wins the entry point.",
     None, "gemma-4-ai-core", (880, 160, 35, 20, 240, 77000), None),
    ("x29", "foodie_lin", "2026-04-19T06:20:12Z", "zh",
     "周末做了红烧肉，让 AI 帮我把菜谱换算成四人份，结果糖放多了……下次还是按外婆的老方子来。",
     None, None, (95, 3, 17, 0, 4, 6100), None),
    ("x30", "Microsoft", "2026-04-19T10:00:00Z", "en",
     "In Japan, nearly one in five working-age people already use generative AI. Our $10B investment from 2026 to 2029 in AI infrastructure, cybersecurity and skills builds on that momentum. {url}",
     "https://news.microsoft.com/source/asia/2026/04/03/microsoft-deepens-its-commitment-to-japan-with-10-billion-investment-in-ai-infrastructure/", "microsoft-japan-10b", (2900, 510, 140, 60, 180, 880000), None),
]

# pagination: newest first, 11 + 10 + 9 posts on three linked pages
PAGE_SIZES = [11, 10, 9]
TOKENS = ["b26v89c19zqg8o3fosbf5n1l8f1t6ybjt7d6w3n2kxyh", "b26v89c19zqg8o3fosbf5n1kz3xk1z8ml4y7e0f5r9xp"]
