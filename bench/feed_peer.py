"""feedparser's own test feeds through the feed connector: how many give items, how many dead letters and why.

    .venv/bin/python bench/feed_peer.py

Every XML file of ../shared/peer/feedparser-tests (wellformed and illformed), served on 127.0.0.1
and collected by `connectors.feed` with links not followed (they point off this machine). Prints
feeds giving at least one post, feeds with none, and the dead letters grouped by reason (the
reason's first words, without the file-specific tail).
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_feed_peer import ILLFORMED, WELLFORMED, collect_peer_file, serve_peer  # noqa: E402


def _reason_kind(reason: str) -> str:
    # "malformed XML at line 3: ..." -> "malformed XML"; numbers and quoted parts vary per file.
    head = re.split(r"[:(\[]", reason, maxsplit=1)[0]
    return re.sub(r"\d+", "N", head).strip()[:70]


def main() -> int:
    started = time.monotonic()
    rows: list[tuple[str, int, tuple[str, ...]]] = []
    with serve_peer() as base_url:
        for group, root in (("wellformed", WELLFORMED), ("illformed", ILLFORMED)):
            for path in sorted(root.rglob("*.xml")):
                outcome = collect_peer_file(base_url, path)
                rows.append((group, outcome.posts, outcome.reasons))
    for group in ("wellformed", "illformed"):
        mine = [r for r in rows if r[0] == group]
        with_posts = sum(1 for r in mine if r[1] > 0)
        lettered = sum(1 for r in mine if r[2])
        silent = sum(1 for r in mine if r[1] == 0 and not r[2])
        print(
            f"{group}: {len(mine)} feeds, {with_posts} give posts ({sum(r[1] for r in mine)} posts), "
            f"{lettered} with dead letters, {silent} with neither"
        )
    reasons = Counter(_reason_kind(reason) for _, _, rs in rows for reason in rs)
    print(f"dead letters: {sum(reasons.values())}, by reason:")
    for kind, count in reasons.most_common():
        print(f"  {count:5d}  {kind}")
    print(f"time: {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
