"""Chinese media coverage: 新智观察 (RSS 2.0, UTF-8 feed, pages in mixed encodings) and 硅基日报 (kind=html, GB18030)."""
from common import d

ZH = {}


def add(key, **kw):
    kw["key"] = key
    ZH[key] = kw


add("xz-funding",
    event="openai-funding-122b", site="xinzhi", feed="xinzhi-guancha", charset="utf-8",
    guid="https://www.xinzhi-guancha.cn/article/2026040108",
    title="OpenAI 完成 1220 亿美元融资，投后估值达 8520 亿美元",
    canonical="https://www.xinzhi-guancha.cn/article/2026040108",
    page="pages/xinzhi/article/2026040108.html",
    published=d("2026-04-01T09:20:00+08:00"), author="新智观察编辑部", section="快讯",
    summary="OpenAI 宣布完成最新一轮融资，获得 1220 亿美元承诺资本，投后估值 8520 亿美元，月收入已达 20 亿美元。",
    body="""
北京时间 4 月 1 日凌晨，OpenAI 宣布完成最新一轮融资，共获得 1220 亿美元承诺资本，投后估值达到 8520 亿美元。

OpenAI 在官方公告中表示，这笔资金将让公司继续做已经被证明有效的事情：训练能力更强的模型，尽快把模型交到用户手中，并确保有足够的算力服务所有想使用它们的人。

## 一个飞轮，而不是一次押注

OpenAI 将自身业务描述为一个相互强化的飞轮：ChatGPT 的消费端渗透让公司了解用户真正的需求；企业部署把这些能力变成企业内部可持续的工作流；开发者平台让数以百万计的开发者打造 OpenAI 自己不会去做的产品；而算力供给让这三者得以实现，并持续压低成本。

OpenAI 同时披露，公司目前每月收入已达 20 亿美元，需求增长仍快于新增算力的上线速度。

## 为什么算力是核心优势

OpenAI 认为，AI 领域持久的优势将来自对算力的长期、稳定获取：既能训练下一代模型，又能以可靠、低廉的方式服务当前模型。本轮资金中有相当大一部分将用于未来几年的算力合作和数据中心容量。

OpenAI 表示，资金将投向研究、研究与部署所需的算力、产品，以及需要随能力同步扩展的安全工作。
""")

add("xz-msjapan",
    event="microsoft-japan-10b", site="xinzhi", feed="xinzhi-guancha", charset="utf-8",
    guid="https://www.xinzhi-guancha.cn/article/2026040315",
    title="微软宣布 2026 至 2029 年在日本投资 100 亿美元，加码 AI 基础设施、网络安全与人才培养",
    canonical="https://www.xinzhi-guancha.cn/article/2026040315",
    page="pages/xinzhi/article/2026040315.html",
    published=d("2026-04-03T14:05:00+08:00"), author="新智观察编辑部", section="算力",
    summary="微软将在 2026 至 2029 年间于日本投入 100 亿美元，到 2030 年培训超过 100 万名工程师、开发者和劳动者。",
    body="""
4 月 3 日，微软宣布将在 2026 年至 2029 年间在日本投资 100 亿美元，用于扩大 AI 基础设施、深化网络安全合作以及培养本地人才。

## 基础设施

这笔投资将扩大微软在日本的云和 AI 基础设施，让日本机构能够在数据留存于本国的前提下使用先进的 AI 算力。

## 网络安全

微软将深化与日本政府机构的网络安全合作，共享威胁情报，并支持关键基础设施的防护。

## 人才

微软计划到 2030 年在日本培训超过 100 万名工程师、开发者和劳动者。

## 应用已在加速

微软援引自家的 AI Vision Report 称，日本近五分之一的劳动年龄人口已经在使用生成式 AI，日经 225 指数成分企业中有 94% 正在使用 Microsoft 365 Copilot。

微软表示，日本是全球最重要的科技市场之一，这笔投资旨在确保日本拥有在 AI 时代保持领先所需的基础设施、安全能力和技能。
""")

add("xz-gemma",
    event="gemma-4-ai-core", site="xinzhi", feed="xinzhi-guancha", charset=None,  # UTF-8 bytes, no charset declared anywhere
    guid="https://www.xinzhi-guancha.cn/article/2026040321",
    title="Gemma 4 登陆 Android AI Core 开发者预览版：速度最高提升 4 倍，支持 140 多种语言",
    canonical="https://www.xinzhi-guancha.cn/article/2026040321",
    page="pages/xinzhi/article/2026040321.html",
    published=d("2026-04-03T21:30:00+08:00"), author="新智观察编辑部", section="大模型",
    summary="谷歌将 Gemma 4 接入 Android AI Core 开发者预览版，并称其将成为下一代 Gemini Nano 4 的基础。",
    body="""
谷歌 4 月 2 日在 Android 开发者博客宣布，Gemma 4 已进入 AI Core 开发者预览版，开发者现在就可以在 Android 设备上基于它进行开发。谷歌表示，Gemma 4 将成为下一代端侧模型 Gemini Nano 4 的基础，并将随即将推出的旗舰设备一同发布。

## 更快、更省电

在受支持的设备上，Gemma 4 的运行速度最高可达上一代的 4 倍，电池消耗也明显降低，这让 AI 功能可以持续运行，而不只是在用户调用时才启动。

## 面向所有用户

Gemma 4 支持 140 多种语言和多模态理解，应用可以直接在设备上对文本和图像进行推理，数据无需离开手机。

## 即将推出

在预览期间，谷歌还将陆续加入工具调用（tool calling）、结构化输出、系统提示词和思考模式，开发者可以借此构建能够调用应用自身函数的本地智能体。

在同日发布的另一篇博客中，谷歌将 Gemma 4 定位为 Android 上“本地智能体智能”（local agentic intelligence）的底座。
""")

add("xz-cyber",
    event="openai-trusted-access-cyber", site="xinzhi", feed="xinzhi-guancha", charset="utf-8",
    guid="https://www.xinzhi-guancha.cn/article/2026041506",
    title="OpenAI 扩大“网络安全可信访问”计划，防御专用模型 GPT-5.4-Cyber 需验证后使用",
    canonical="https://www.xinzhi-guancha.cn/article/2026041506",
    page="pages/xinzhi/article/2026041506.html",
    published=d("2026-04-15T08:45:00+08:00"), author="周晓彤", section="产业",
    summary="访问范围扩大到数千名经过验证的个人防守者和数百个关键软件防护团队；高能力模型开始以“验证后开放”的方式进入安全市场。",
    body="""
OpenAI 于美国时间 4 月 14 日宣布扩展 Trusted Access for Cyber（网络安全可信访问）计划，把访问范围扩大到数千名经过验证的个人防守者，以及数百个负责关键软件防护的团队，同时推出专为防御性网络安全场景微调的模型 GPT-5.4-Cyber。

与通用模型相比，GPT-5.4-Cyber 的网络安全能力边界更宽，但并不默认开放：个人用户必须先完成身份验证，访问权限按层级划分，维护关键软件的机构还需经过额外审核。OpenAI 还表示，这套机制也是其为未来更强模型发布所做准备的一部分。

在我们看来，这说明高能力模型的商业化逻辑正在变化：不是“做出来就全面开放”，而是先在高价值、高风险的场景里，用验证门槛、用途限定和生态合作逐步放量。网络安全很可能是这种模式最先成熟的行业。

对国内安全厂商而言，未来的卖点将从“能不能找到漏洞”扩展到“能否证明用户身份、审计访问、限定用途”。
""")

add("xz-safetensors",
    event="safetensors-pytorch-foundation", site="xinzhi", feed="xinzhi-guancha", charset="gbk",
    guid="https://www.xinzhi-guancha.cn/article/2026040911",
    title="safetensors 加入 PyTorch 基金会：开源模型分发迎来中立治理",
    canonical="https://www.xinzhi-guancha.cn/article/2026040911",
    page="pages/xinzhi/article/2026040911.html",
    published=d("2026-04-09T10:10:00+08:00"), author="林一帆", section="开源",
    summary="Hugging Face 宣布 safetensors 成为 PyTorch 基金会托管项目，商标、代码仓库与治理转入中立基金会。",
    body="""
Hugging Face 于 4 月 8 日宣布，safetensors 已加入 PyTorch 基金会，成为 Linux 基金会旗下的基金会托管项目。

safetensors 诞生的初衷，是规避用 pickle 保存模型权重时可能出现的任意代码执行风险。如今它已是 Hugging Face Hub 上分享模型权重的默认格式。此次加入基金会后，项目的商标、代码仓库和治理权都将转入更中立的基金会托管，Hugging Face 工程师仍会与社区贡献者一起维护项目。

根据公布的路线图，safetensors 接下来将支持按设备感知的加载（device-aware loading）、直接加载到 CUDA 和 ROCm 设备，以及更多硬件加速格式。

开源模型的竞争点，正在从“谁发布更多权重”转向“谁定义更可信的加载、分发和治理标准”。对做私有化部署、模型仓库和推理平台的团队来说，safetensors 已经是开源模型供应链中的关键基础设施。
""")

add("xz-codex",
    event="openai-codex-everything", site="xinzhi", feed="xinzhi-guancha", charset="utf-8",
    guid="https://www.xinzhi-guancha.cn/article/2026041703",
    title="Codex 不只写代码了：OpenAI 发布 “Codex for (almost) everything”",
    canonical="https://www.xinzhi-guancha.cn/article/2026041703",
    page="pages/xinzhi/article/2026041703.html",
    published=d("2026-04-17T07:30:00+08:00"), author="周晓彤", section="大模型",
    summary="Codex 从写代码扩展到跨工具的长时任务执行，智能体赛道从“副驾驶”走向“执行层”。",
    body="""
OpenAI 于美国时间 4 月 16 日发布 “Codex for (almost) everything”，把 Codex 从写代码继续推向跨工具、跨长时任务的工作流执行。

按照官方介绍，Codex 现在可以连接团队日常使用的各类工具，在用户按工具授予的权限范围内持续工作数小时，并为每个任务保留完整的操作日志，便于团队审计。

结合 OpenAI 在 4 月 8 日《The next phase of AI》中披露的信息——企业业务已占其总收入 40% 以上——可以看出，智能体赛道正在从“一个更强的副驾驶”变成“一个能接权限、接工具、接长期任务的执行层”。谁能同时补齐日志、权限和责任边界，谁就更有机会拿下长期的企业预算。
""")

# 硅基日报: a single article page fetched by a kind = "html" source, served as GB18030
add("gj-nemotron",
    event="nemotron-ocr-v2", site="guiji", feed=None, charset="gb18030",
    guid=None,
    title="英伟达发布 Nemotron OCR v2：百万级合成数据训练，单一模型读懂中英日韩俄",
    canonical="https://www.guiji-daily.com/news/2026/0418/nemotron-ocr-v2.html",
    page="pages/guiji-daily/2026/04/18/nemotron-ocr-v2.html",
    published=d("2026-04-18T10:00:00+08:00"), author="硅基日报 王蕾", section="模型",
    summary="英伟达在 Hugging Face 博客发布多语言 OCR 合成数据集与 Nemotron OCR v2，真实文档基准上达到每秒 34.7 页。",
    body="""
英伟达 4 月 17 日在 Hugging Face 博客发布多语言 OCR 数据集与模型说明：公开了包含 100 万个样本、覆盖六种语言的合成数据集，以及可直接用于生产环境的 Nemotron OCR v2 模型。

与按语言拆分多个模型的做法不同，Nemotron OCR v2 用单一的统一模型同时处理英文、中文、日文、韩文和俄文文本，也能应对混排页面、表格和表单。在真实文档基准上，它的处理速度达到每秒 34.7 页。

英伟达解释说，真实的多语言文档数据稀缺且授权困难，而合成渲染可以灵活控制字体、版式、噪声和语种，覆盖公开数据集中代表性不足的文字体系。

多语言 OCR 的价值不只是识别文字，而是把票据、表单、档案等文档流程标准化为 AI 可以直接处理的输入。对于企业知识库数字化、跨语言档案录入和客服运营文档流转，这类模型本身就是可变现的能力。
""")
