"""arXiv papers, newest submission first (sortBy=submittedDate, descending)."""

PAPERS = [
    dict(id="2604.16388", v=1, published="2026-04-18T08:41:27Z", updated="2026-04-18T08:41:27Z",
         title="SynthDoc-ML: Synthetic Page Rendering for Multilingual OCR Pretraining",
         authors=["Mei-Ling Tsai", "Jonas Becker", "Hiroshi Tanaka", "Olga Petrova"],
         primary="cs.CV", cats=["cs.CV", "cs.CL"],
         summary="""Multilingual optical character recognition is limited less by model capacity than by the scarcity of
licensed, labelled document images outside English. We present SynthDoc-ML, a rendering pipeline that
produces page images with controllable fonts, layouts, degradations and script mixtures, together with
line- and word-level ground truth. Pretraining a single recognizer on 800k rendered pages covering Latin,
Cyrillic, Chinese, Japanese and Korean scripts and fine-tuning on small real sets reduces character error
rate by 21-38% relative to per-language baselines, with the largest gains on mixed-script pages and tables.
We analyse which rendering factors matter most and release the renderer and configuration files."""),
    dict(id="2604.15730", v=1, published="2026-04-17T17:02:11Z", updated="2026-04-17T17:02:11Z",
         title="Long-Horizon Workflow Agents: Benchmarking Tool-Using Models on Multi-Hour Tasks",
         authors=["Rachel Owens", "Tomasz Wielgus", "Ananya Krishnan"],
         primary="cs.AI", cats=["cs.AI", "cs.SE"],
         summary="""Agents are increasingly deployed on tasks that span hours and many tools rather than single
conversational turns. We introduce a benchmark of 212 workflow tasks drawn from software maintenance,
finance operations and customer support, each requiring between 40 and 600 tool calls across simulated
ticketing, spreadsheet, documentation and code-hosting systems. Tasks are scored on outcome correctness,
permission violations and the completeness of the agent's activity log. Across eleven models, success falls
sharply with task length, and permission violations concentrate in steps where agents recover from errors.
We argue that auditability should be a first-class evaluation target for workflow agents."""),
    dict(id="2604.14655", v=1, published="2026-04-16T10:19:55Z", updated="2026-04-16T10:19:55Z",
         title="Running Multimodal Small Language Models on Mobile NPUs: Latency, Energy and Accuracy Trade-offs",
         authors=["Daniel Kim", "Sofia Marchetti", "Wei Zhang", "Arjun Mehta"],
         primary="cs.LG", cats=["cs.LG", "cs.AR", "cs.CV"],
         summary="""We measure end-to-end latency, energy per token and task accuracy for six open multimodal small
language models deployed on the neural processing units of four recent smartphones. Quantization to 4-bit
weights with 8-bit activations reduces energy per generated token by 2.1-3.4x with under two points of
accuracy loss on document and chart understanding, but vision encoders dominate time-to-first-token. We
show that caching image embeddings and batching tool-call decoding make local agentic workloads feasible
within a 2 W power envelope, and we release our measurement harness."""),
    dict(id="2604.13902", v=1, published="2026-04-15T14:33:08Z", updated="2026-04-15T14:33:08Z",
         title="Access Tiers for Dual-Use Capabilities: A Framework for Verified Release of Frontier Models",
         authors=["Helen Achterberg", "Marcus Obi", "Lucia Fernandez"],
         primary="cs.CY", cats=["cs.CY", "cs.CR", "cs.AI"],
         summary="""Developers of frontier models increasingly release dual-use capabilities, such as offensive security
knowledge, only to verified users. We formalise tiered access as a mechanism design problem balancing
defender benefit, misuse risk and verification cost, and derive conditions under which identity
verification plus usage auditing dominates both open release and full withholding. Using case studies from
cybersecurity programs we identify failure modes, including credential sharing and tier creep, and propose
reporting metrics that developers can publish to make tiered release accountable."""),
    dict(id="2604.13517", v=1, published="2026-04-15T06:12:40Z", updated="2026-04-15T06:12:40Z",
         title="DefendBench: Evaluating Language Model Agents on Defensive Security Operations",
         authors=["Ibrahim Haddad", "Chloe Martin", "Kenta Watanabe", "Sarah Goldberg", "Victor Alvarez"],
         primary="cs.CR", cats=["cs.CR", "cs.AI"],
         summary="""Most cybersecurity evaluations of language models measure offensive capability. We introduce
DefendBench, 340 defensive tasks including log triage, detection-rule authoring, vulnerability patching and
incident reporting, executed by agents inside instrumented environments. Scoring combines task success
with false-positive cost and time-to-containment. Models fine-tuned for security outperform general models
on patch correctness but not on triage, and agent scaffolding matters as much as the base model. We discuss
how defensive benchmarks can inform access decisions for security-specialised models."""),
    dict(id="2604.12908", v=1, published="2026-04-14T11:20:41Z", updated="2026-04-14T11:20:41Z",
         title="Robotic Manipulation is Vision-to-Geometry Mapping ($f(v) \\rightarrow G$): Vision-Geometry Backbones over Language and Video Models",
         authors=["Yifan Chen", "Marta Kowalski", "Ravi Shankar", "Lena Hoffmann", "Takeshi Ito"],
         primary="cs.RO", cats=["cs.RO", "cs.CV", "cs.LG"],
         summary="""We argue that robotic manipulation is fundamentally a vision-to-geometry mapping and that policy
backbones should be built on geometry rather than on language or video. We propose Vision-Geometry-Action
(VGA), which conditions action generation directly on pretrained native 3D representations instead of
vision-language or video backbones. In simulation and on real robots, VGA generalises zero-shot to unseen
camera viewpoints and outperforms several vision-language-action baselines, including $\\pi_{0.5}$ and
GeoVLA, while using fewer demonstrations. Our results suggest that native 3D geometric representations,
not language ability, are the bottleneck for generalisable manipulation."""),
    dict(id="2604.12240", v=1, published="2026-04-13T17:45:02Z", updated="2026-04-13T17:45:02Z",
         title="Device-Aware Zero-Copy Loading of Tensor Checkpoints across CUDA and ROCm",
         authors=["Pierre Laurent", "Nadia Rahman", "Gustavo Lima"],
         primary="cs.DC", cats=["cs.DC", "cs.LG"],
         summary="""Loading large model checkpoints is dominated by host-memory copies and deserialisation. We present a
loader for header-indexed, pickle-free tensor files that maps tensor byte ranges directly into device memory
on CUDA and ROCm GPUs using asynchronous direct storage paths, with a placement plan computed from the
file header before any data is read. On 70B-parameter checkpoints load time drops by 3.2x and peak host
memory by 11x. Because the format contains no executable content, the loader preserves the safety
properties of the format while approaching storage bandwidth."""),
    dict(id="2604.11873", v=1, published="2026-04-13T08:11:36Z", updated="2026-04-13T08:11:36Z",
         title="Still Unpickling: A Measurement Study of Unsafe Deserialization in Public Model Hubs",
         authors=["Aisha Bello", "Jakob Stein", "Min-jun Park"],
         primary="cs.CR", cats=["cs.CR", "cs.LG"],
         summary="""We crawl 1.9 million model repositories across three public hubs and measure how often weights are
distributed in formats that allow code execution on load. Although safe tensor formats now dominate new
uploads, 14% of repositories downloaded more than 1,000 times per month still ship only pickle-based
checkpoints, and we find 37 repositories containing payloads that execute on load. We evaluate hub-side
scanners, show evasion techniques against them, and argue that safe-by-construction formats with neutral
governance are a more robust defence than scanning."""),
    dict(id="2604.06168", v=2, published="2026-04-07T17:32:10Z", updated="2026-04-15T13:05:44Z",
         title="Action Images: End-to-End Policy Learning via Multi-View Video Generation",
         authors=["Jiahui Lin", "Oliver Grant", "Saanvi Rao", "Matteo Ricci"],
         primary="cs.RO", cats=["cs.RO", "cs.CV"],
         summary="""We introduce Action Images, a representation that renders 7-DoF robot actions as multi-view images
grounded in 2D pixels, turning policy learning into a unified multi-view video generation problem. Instead of
encoding actions as low-dimensional tokens decoded by a separate policy head, a pretrained video backbone
generates future frames together with action images, and the actions are read back from pixels. The video
backbone therefore acts directly as a zero-shot policy. Across simulated and real manipulation tasks, Action
Images inherit the benefits of video pretraining and transfer across camera viewpoints. v2 adds real-robot
experiments and an analysis of cross-view consistency."""),
    dict(id="2603.04417", v=1, published="2026-03-05T12:00:18Z", updated="2026-03-05T12:00:18Z",
         title="Quantization-Aware Distillation for Sub-2B Language Models",
         authors=["Erik Lund", "Hana Novak"],
         primary="cs.CL", cats=["cs.CL", "cs.LG"],
         summary="""We study distillation objectives for language models below two billion parameters that will be deployed
with 4-bit weights. Matching teacher logits under simulated quantization noise recovers most of the accuracy
lost by post-training quantization, and the gains are largest for multilingual tasks."""),
]
