"""Official announcements (the facts come from the reference digest 2026-04-20)."""
from common import d

OFFICIAL = {}


def add(key, **kw):
    kw["key"] = key
    OFFICIAL[key] = kw


# ------------------------------------------------------------------ OpenAI
add("openai-funding",
    event="openai-funding-122b", site="openai", feed="openai-news",
    guid="https://openai.com/index/accelerating-the-next",
    title="OpenAI raises $122 billion to accelerate AI",
    canonical="https://openai.com/index/accelerating-the-next",
    page="pages/openai/index/accelerating-the-next.html",
    published=d("2026-03-31T10:00:00-07:00"), author="OpenAI", section="Company",
    summary="We have closed our latest funding round with $122 billion in committed capital at a post-money valuation of $852 billion.",
    body="""
Today we're announcing that OpenAI has closed its latest funding round, raising $122 billion in committed capital at a post-money valuation of $852 billion.

This capital lets us keep doing what has worked: building more capable models, putting them in people's hands quickly, and making sure there is enough compute to serve everyone who wants to use them.

## A flywheel, not a single bet

Our business now works as a flywheel. Consumer reach through ChatGPT shows us what people actually need. Enterprise deployments turn those capabilities into durable workflows inside companies. Our developer platform lets millions of builders create products we would never build ourselves. And compute supply is what makes all three possible at a cost that keeps falling. Each part strengthens the others.

That flywheel is working. We now generate $2 billion in revenue every month, and demand continues to outpace the capacity we can bring online.

## Why compute is the advantage

We believe the lasting advantage in AI will come from durable access to compute: the ability to train the next generation of models while also serving the current one reliably and cheaply. A large share of this round is committed to compute partnerships and data center capacity over the coming years.

## What comes next

The funding will go to research, to the compute that research and deployment require, to product, and to the safety and security work that has to scale with capability. We are grateful to our investors and partners for their confidence, and to the people who use our products every day.
""")

add("openai-next-phase",
    event="openai-next-phase", site="openai", feed="openai-news",
    guid="https://openai.com/index/next-phase-of-ai/",
    title="The next phase of AI",
    canonical="https://openai.com/index/next-phase-of-ai/",
    page="pages/openai/index/next-phase-of-ai.html",
    published=d("2026-04-08T09:00:00-07:00"), author="OpenAI", section="Company",
    summary="AI is moving from answering questions to doing work. Enterprise now accounts for more than 40% of our revenue.",
    body="""
For the last few years most people experienced AI as something you ask. The next phase is AI that does work: agents that take on multi-step tasks, use tools, and keep going until the job is done.

We can see this shift in how our products are used. Businesses are moving from pilots to deployments that touch real workflows, and enterprise now accounts for more than 40% of our revenue.

## What changes for customers

Doing work requires more than a capable model. It requires permissions, connections to the tools a team already uses, audit logs, and clear boundaries of responsibility. Over the coming months we will keep investing in these layers across ChatGPT Enterprise, Codex and the API.

## What changes for us

Serving agents that run for hours is a different infrastructure problem from serving chat. It is one of the reasons we have been securing long-term compute, and it is why reliability and cost per task matter as much to us as benchmark results.
""")

add("openai-cyber",
    event="openai-trusted-access-cyber", site="openai", feed="openai-news",
    guid="https://openai.com/index/scaling-trusted-access-for-cyber",
    title="Trusted access for the next era of cybersecurity",
    canonical="https://openai.com/index/scaling-trusted-access-for-cyber",
    page="pages/openai/index/scaling-trusted-access-for-cyber.html",
    published=d("2026-04-14T08:00:00-07:00"), author="OpenAI", section="Safety",
    summary="We are expanding Trusted Access for Cyber to thousands of verified defenders and hundreds of teams protecting critical software, and introducing GPT-5.4-Cyber.",
    body="""
Today we are expanding Trusted Access for Cyber, our program that gives vetted defenders access to more capable cybersecurity models. Access now extends to thousands of verified individual defenders and hundreds of teams responsible for protecting critical software.

We are also introducing GPT-5.4-Cyber, a version of GPT-5.4 fine-tuned specifically for defensive cybersecurity. Compared with our general models, GPT-5.4-Cyber has a broader cyber capability boundary: it will go further on dual-use tasks such as vulnerability research, malware analysis and patch validation when the work is authorized and defensive.

## Verified, tiered access

Because those capabilities can be misused, access is not open by default. Individuals must complete identity verification before they can use GPT-5.4-Cyber, and access is tiered: organisations that maintain critical software go through additional review and receive higher limits and broader capabilities. Usage is logged and subject to our usage policies.

## Preparing for more capable models

Trusted Access for Cyber is also part of how we prepare for future, more capable models. Building verification, tiering and partner programs now means that when stronger capabilities arrive, defenders can get them first.

We will share what we learn from the program, including how often requests fall outside authorized defensive use.
""")

add("openai-codex",
    event="openai-codex-everything", site="openai", feed="openai-news",
    guid="https://openai.com/index/codex-for-almost-everything/",
    title="Codex for (almost) everything",
    canonical="https://openai.com/index/codex-for-almost-everything/",
    page="pages/openai/index/codex-for-almost-everything.html",
    published=d("2026-04-16T08:00:00-07:00"), author="OpenAI", section="Product",
    summary="Codex started as a way to delegate coding tasks. Now it can take on long-running work across the tools you already use.",
    body="""
Codex started as a way to hand off coding tasks. Developers quickly started using it for everything around the code too: reading tickets, updating docs, checking dashboards, filing follow-ups.

Today Codex can take on that wider range of work. It can run long tasks across the tools your team already uses, keep working for hours with the permissions you grant, and report back with what it changed and why.

## What is new

- Connectors to common work tools, with per-tool permissions you control
- Long-running tasks that continue in the cloud and can be reviewed at each step
- A full activity log for every task, so teams can audit what Codex did

Codex is still best at code. But much of the work that surrounds software is structured, tool-driven and repetitive, and that is where an agent that can work across systems helps most.
""")

# ------------------------------------------------------------------ Google / Android
add("gemma-aicore",
    event="gemma-4-ai-core", site="android", feed="android-developers-blog",
    guid="tag:blogger.com,1999:blog-6755709643044947179.post-3186290547111642217",
    title="Announcing Gemma 4 in AI Core Developer Preview",
    canonical="https://android-developers.googleblog.com/2026/04/02/announcing-gemma-4-in-ai-core-developer-preview.html",
    page="pages/android-developers/2026/04/announcing-gemma-4-in-ai-core-developer-preview.html",
    published=d("2026-04-02T09:00:00-07:00"), author="Android Developers", section="AI",
    summary="Gemma 4 is now available in the AI Core Developer Preview and will be the foundation for the next generation, Gemini Nano 4.",
    body="""
Today we are bringing Gemma 4 to the AI Core Developer Preview, so you can start building with it on Android devices. Gemma 4 is the foundation for the next generation of our on-device model, Gemini Nano 4, which will ship on upcoming flagship devices.

## Faster and more efficient

On supported devices Gemma 4 runs up to 4x faster than the previous generation, with significantly lower battery consumption. That makes it practical to run AI features continuously rather than only on demand.

## Built for every user

Gemma 4 supports more than 140 languages and multimodal understanding, so your app can reason over text and images directly on the device, with no data leaving the phone.

## Coming soon

Over the course of the preview we will add tool calling, structured output, system prompts and a thinking mode, so you can build local agents that call your app's functions and return results your code can parse.

To get started, enroll a supported device in the AI Core Developer Preview and use the ML Kit GenAI Prompt API.
""")

add("gemma-agentic",
    event="gemma-4-ai-core", site="android", feed="android-developers-blog",
    guid="tag:blogger.com,1999:blog-6755709643044947179.post-4402718813902756190",
    title="Gemma 4: The new standard for local agentic intelligence on Android",
    canonical="https://android-developers.googleblog.com/2026/04/gemma-4-new-standard-for-local-agentic-intelligence.html",
    page="pages/android-developers/2026/04/gemma-4-new-standard-for-local-agentic-intelligence.html",
    published=d("2026-04-02T09:05:00-07:00"), author="Android Developers", section="AI",
    summary="Gemma 4 is the base for local agentic intelligence on Android: private, offline and fast.",
    body="""
Agents are only as useful as the context and tools they can reach. On a phone, that context is personal and the connection is not always reliable. That is why we think the future of agents on Android is local.

Gemma 4 is designed as the base for that local agentic intelligence. It runs on the device, keeps personal data on the device, and works offline. With tool calling arriving in the AI Core preview, apps will be able to expose their own functions to the model and let it complete multi-step tasks.

## From model to platform

We are pairing the model with system APIs and developer tools, so you do not have to ship and update model weights yourself. The same Gemma 4 you prototype with today will underpin Gemini Nano 4 on new devices.

We cannot wait to see the agents you build.
""")

# ------------------------------------------------------------------ Hugging Face
add("hf-safetensors",
    event="safetensors-pytorch-foundation", site="huggingface", feed="huggingface-blog",
    guid="https://huggingface.co/blog/safetensors-joins-pytorch",
    title="Safetensors is Joining the PyTorch Foundation",
    canonical="https://huggingface.co/blog/safetensors-joins-pytorch",
    page="pages/huggingface/blog/safetensors-joins-pytorch.html",
    published=d("2026-04-08T14:00:00+00:00"), author="Hugging Face", section="Blog",
    summary="Safetensors is now a foundation-hosted project under the PyTorch Foundation, part of the Linux Foundation.",
    body="""
We are happy to announce that safetensors has joined the PyTorch Foundation as a foundation-hosted project. The PyTorch Foundation is part of the Linux Foundation.

We created safetensors to solve a simple but serious problem: loading model weights stored with pickle can execute arbitrary code. Safetensors stores tensors in a simple format that can be loaded safely, quickly and lazily, and it has become the default way to share weights on the Hub.

## What changes

The safetensors trademark, repository and governance now move to the PyTorch Foundation. Hugging Face engineers will continue to maintain the project alongside contributors from across the ecosystem, under a neutral, open governance model.

## What is next

- Device-aware loading, so tensors land directly where they will be used
- Direct loading to CUDA and ROCm devices without a round trip through host memory
- Support for more hardware-accelerated formats

Nothing changes for users: the format and the library stay backward compatible.
""")

add("hf-nemotron-ocr",
    event="nemotron-ocr-v2", site="huggingface", feed="huggingface-blog",
    guid="https://huggingface.co/blog/nvidia/nemotron-ocr-v2",
    title="Building a Fast Multilingual OCR Model with Synthetic Data",
    canonical="https://huggingface.co/blog/nvidia/nemotron-ocr-v2",
    page="pages/huggingface/blog/nvidia/nemotron-ocr-v2.html",
    published=d("2026-04-17T15:00:00+00:00"), author="NVIDIA", section="Community Article",
    summary="NVIDIA releases a one-million-sample synthetic multilingual OCR dataset and Nemotron OCR v2, a production-ready unified OCR model.",
    body="""
Document pipelines still break on OCR, especially outside English. Today we are releasing two things: a synthetic dataset of one million samples covering six languages, and Nemotron OCR v2, a production-ready OCR model trained on it.

## One model, many scripts

Instead of one model per language, Nemotron OCR v2 is a single unified model that reads English, Chinese, Japanese, Korean and Russian text, including mixed-script pages, tables and forms.

## Fast enough for production

On real-world document benchmarks Nemotron OCR v2 processes 34.7 pages per second, which makes it practical for document-heavy workloads such as archives, invoices and knowledge-base ingestion.

## Why synthetic data

Real multilingual document data is scarce and hard to license. Rendering synthetic pages lets us control fonts, layouts, noise and languages, and cover scripts that public datasets under-represent. Both the dataset and the model are available on the Hub.
""")

# ------------------------------------------------------------------ Microsoft
add("ms-japan",
    event="microsoft-japan-10b", site="microsoft", feed="microsoft-source-asia",
    guid="https://news.microsoft.com/source/asia/?p=84217",
    title="Microsoft deepens its commitment to Japan with $10 billion investment in AI infrastructure, cybersecurity and workforce",
    canonical="https://news.microsoft.com/source/asia/2026/04/03/microsoft-deepens-its-commitment-to-japan-with-10-billion-investment-in-ai-infrastructure/",
    page="pages/microsoft/source/asia/2026/04/03/microsoft-japan-10-billion-investment.html",
    published=d("2026-04-03T11:00:00+09:00"), author="Microsoft Asia News Center", section="AI",
    summary="Microsoft will invest $10 billion in Japan between 2026 and 2029 in AI infrastructure, cybersecurity cooperation and skills.",
    body="""
TOKYO, April 3, 2026 - Microsoft today announced it will invest $10 billion in Japan between 2026 and 2029 to expand AI infrastructure, deepen cybersecurity cooperation and train the country's workforce.

## Infrastructure

The investment will expand Microsoft's cloud and AI infrastructure in Japan, giving Japanese organisations access to advanced AI computing with data kept in the country.

## Cybersecurity

Microsoft will deepen cybersecurity cooperation with Japanese government institutions, sharing threat intelligence and supporting the protection of critical infrastructure.

## People

Microsoft will help train more than 1 million engineers, developers and workers in Japan by 2030.

## Adoption is already under way

According to Microsoft's AI Vision Report, nearly one in five working-age people in Japan already use generative AI, and 94% of Nikkei 225 companies use Microsoft 365 Copilot.

"Japan is one of the world's most important technology markets," Microsoft said. "This investment is about making sure that the country has the infrastructure, the security and the skills to lead in the AI era."
""")

# ------------------------------------------------------------------ Anthropic
add("anthropic-rsp",
    event="anthropic-rsp-update", site="anthropic", feed="anthropic-news",
    guid="https://www.anthropic.com/news/updating-our-responsible-scaling-policy",
    title="Updating our Responsible Scaling Policy",
    canonical="https://www.anthropic.com/news/updating-our-responsible-scaling-policy",
    page="pages/anthropic/news/updating-our-responsible-scaling-policy.html",
    published=d("2026-04-15T08:30:00-07:00"), author="Anthropic", section="Announcements",
    summary="We are publishing an update to our Responsible Scaling Policy that refines capability thresholds, risk reporting and access safeguards.",
    body="""
Today we are publishing an update to our Responsible Scaling Policy (RSP), the framework we use to decide which safeguards a model needs before we train or deploy it.

The update does not change the core idea of the policy: as models become more capable, the safeguards around them must become stronger. It refines how we apply that idea in practice.

## What we changed

- Clearer capability thresholds, with more precise descriptions of the evaluations that trigger stronger safeguards
- More detailed risk reports, published alongside major model releases
- Stronger access safeguards for high-risk capabilities, including verification and tiered access for sensitive use cases
- A clearer process for external review of our safeguards

## Why now

Models are being deployed as agents with access to tools and data. That raises the stakes of getting deployment safeguards right, and we want our commitments to be specific enough that customers, researchers and policymakers can hold us to them.
""")
