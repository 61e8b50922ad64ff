"""Write a digest: Markdown, JSON and HTML files (atomically) and its row in DuckDB."""

from __future__ import annotations

import os
from pathlib import Path

from digest.render import render_html, render_markdown
from infra.store import Store
from schemas.digest import Digest

__all__ = ["digest_paths", "store_digest", "write_digest"]


def digest_paths(digest: Digest, out_dir: Path) -> dict[str, Path]:
    stem = f"digest-{digest.window.to.isoformat()}"
    return {ext: out_dir / f"{stem}.{ext}" for ext in ("md", "json", "html")}


def _write_atomically(path: Path, text: str) -> None:
    # A reader (or a crashed run) never sees half a file: write aside, then rename.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def store_digest(store: Store, digest: Digest) -> None:
    """Keep the digest in DuckDB (one row per window end and language; a re-run replaces it)."""
    with store.write() as con:
        con.execute(
            "INSERT OR REPLACE INTO digests (digest_date, language, window_from, window_to, timezone, event_ids,"
            " record) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                digest.window.to,
                digest.language,
                digest.window.from_,
                digest.window.to,
                digest.window.timezone,
                [e.id for e in digest.top_events],
                digest.model_dump_json(by_alias=True),
            ],
        )


def write_digest(digest: Digest, out_dir: Path | str, store: Store | None = None) -> list[Path]:
    """Write digest-<to>.md/.json/.html into `out_dir`; also store it in DuckDB when `store` is given."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = digest_paths(digest, out)
    _write_atomically(paths["md"], render_markdown(digest))
    _write_atomically(paths["json"], digest.model_dump_json(by_alias=True))
    _write_atomically(paths["html"], render_html(digest))
    if store is not None:
        store_digest(store, digest)
    return [paths["md"], paths["json"], paths["html"]]
