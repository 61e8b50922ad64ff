"""Benchmark: `build_digest` over 1,000,000 items / 100,000 events in one week.

    .venv/bin/python bench/digest_bench.py [--items N] [--events N] [--keep DIR]

The store is generated in a child process with DuckDB `range()` (no executemany: ~1k
rows/s, DESIGN.md §7), so the peak RSS printed afterwards belongs to the digest build
alone. Goal: < 5 s and < 1 GiB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WINDOW_END = date(2026, 4, 19)
# The week in Asia/Shanghai: 2026-04-13 00:00 +08 .. 2026-04-20 00:00 +08.
WEEK_START = "TIMESTAMPTZ '2026-04-12 16:00:00+00'"
WEEK_SECONDS = 7 * 24 * 3600

_CATEGORIES = (
    "['capital','security-access','infrastructure','on-device','open-source','agents','research','policy','product']"
)
_TIERS = "['official','media','media','media','community','social','social','social','research','media']"

_EVENTS_SQL = f"""
INSERT INTO events (event_id, title, category, verification, signal_score, first_seen, last_seen, items, publishers,
                    record)
SELECT 'ev-' || i,
       'Event ' || i || ': a lab announces model ' || (i % 997) || ' with $' || (i % 50 + 1) || ' billion',
       {_CATEGORIES}[1 + i % 9],
       ['verified-by-official','corroborated','unverified'][1 + i % 3],
       ((hash(i) % 10000)::BIGINT) / 100.0,
       {WEEK_START} + to_seconds((hash(i * 7) % {WEEK_SECONDS // 2})::BIGINT),
       {WEEK_START} + to_seconds({WEEK_SECONDS // 2} + (hash(i * 11) % {WEEK_SECONDS // 2})::BIGINT),
       $per_event, 1 + i % 7,
       '{{"schema":"event","version":1,"event_id":"ev-' || i || '"}}'
FROM range($events) t(i)
"""

_ITEMS_SQL = f"""
INSERT INTO items (item_id, kind, source_name, source_kind, tier, publisher, url, canonical_url, title, text, lang,
                   published_at, handle, category, item_type, event_id, engagement, duplicate_of, record)
SELECT 'it-' || i, 'post', 'src-' || (i % 40),
       CASE WHEN tier = 'social' THEN 'x' WHEN tier = 'research' THEN 'arxiv' ELSE 'feed' END,
       tier, 'Publisher ' || (i % 40),
       'https://news' || (i % 40) || '.example/' || i, 'https://news' || (i % 40) || '.example/' || i,
       'Item ' || i || ' about event ' || (i % $events),
       'Lab ' || (i % 997) || ' said on Monday it raised $' || (i % 50 + 1) || ' billion. '
           || repeat('Analysts expect more compute spending across the industry. ', 3),
       CASE WHEN i % 5 = 0 THEN 'zh' ELSE 'en' END,
       {WEEK_START} + to_seconds((hash(i) % {WEEK_SECONDS})::BIGINT),
       CASE WHEN tier = 'social' THEN 'user' || (i % 5000) END,
       {_CATEGORIES}[1 + (i % $events) % 9],
       CASE WHEN tier = 'social' THEN ['fact','trend','opinion'][1 + i % 3] END,
       'ev-' || (i % $events),
       CASE WHEN tier = 'social' THEN (hash(i) % 50000)::BIGINT ELSE 0 END,
       CASE WHEN i % 50 = 0 THEN 'it-' || (i - 1) END,
       '{{"schema":"item","version":1,"item_id":"it-' || i || '","off_topic":'
           || CASE WHEN i % 500 = 0 THEN 'true' ELSE 'false' END || ',"entities":{{"organisations":["Lab '
           || (i % 997) || '"],"amounts":[{{"text":"$' || (i % 50 + 1) || ' billion","value":'
           || ((i % 50 + 1) * 1e9) || ',"unit":"USD"}}]}}}}'
FROM (SELECT i, {_TIERS}[1 + (hash(i * 3) % 10)::BIGINT] AS tier FROM range($items) t(i))
"""


def generate(path: Path, items: int, events: int) -> None:
    from infra.store import Store

    store = Store(path)
    store.migrate()
    with store.write() as con:
        con.execute(_EVENTS_SQL, {"events": events, "per_event": max(1, items // events)})
        con.execute(_ITEMS_SQL, {"items": items, "events": events})
        con.execute("INSERT INTO event_items (event_id, item_id) SELECT event_id, item_id FROM items")
        con.execute(
            "INSERT INTO dead_letters (dead_letter_id, stage, reason, occurred_at)"
            f" SELECT 'dl-' || i, 'normalize', 'bad charset', {WEEK_START} + to_seconds(i * 60) FROM range(5000) t(i)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="directory to keep the generated store in")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate:
        generate(args.generate, args.items, args.events)
        return 0

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="digest-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "bench.duckdb"
    if not db.exists():
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--generate", str(db), "--items", str(args.items), "--events", str(args.events)],
            check=True,
        )
        print(f"generated {args.items:,} items / {args.events:,} events in {time.perf_counter() - t0:.1f} s -> {db}")

    from digest.build import build_digest
    from digest.render import render_html, render_markdown
    from infra.config import DigestSettings, Settings, StoreSettings
    from infra.store import Store

    settings = Settings(data_dir=workdir, store=StoreSettings(path=db), digest=DigestSettings())
    store = Store(db)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    digest = build_digest(store, settings, WINDOW_END)
    built = time.perf_counter() - t0
    markdown, page = render_markdown(digest), render_html(digest)
    total = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"build_digest: {built:.2f} s (with Markdown + HTML: {total:.2f} s)")
    print(f"peak RSS: {peak_mib:.0f} MiB (before the build: {rss_before / 1024:.0f} MiB)")
    print(
        f"digest: {len(digest.top_events)} top events, {len(digest.x_signals)} X signals, "
        f"{len(digest.research)} research, stats {digest.stats.model_dump()}, {len(markdown)} chars md, "
        f"{len(page)} chars html"
    )
    ok = total < 5 and peak_mib < 1024
    print("goal (< 5 s, < 1 GiB):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
