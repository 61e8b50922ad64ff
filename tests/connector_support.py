"""Helpers shared by the connector tests: fast settings, topic read-back, scripted servers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from connectors.sample_server import sample_sources, send_body, serve_corpus, serve_in_thread
from infra.config import FetchSettings, KafkaSettings, Settings, SourceConfig
from infra.kafka import KafkaRecord, end_offsets, make_consumer, partitions_of, read_range
from schemas.envelope import parse_envelope

FAST_FETCH = FetchSettings(per_host_interval_s=0, retries=0, backoff_s=0, timeout_s=5, max_rate_limit_wait_s=2)


def with_sources(settings: Settings, sources: list[SourceConfig], **fetch: Any) -> Settings:
    """The test settings with these sources and a fetcher that never waits."""
    return settings.model_copy(update={"sources": sources, "fetch": FAST_FETCH.model_copy(update=fetch)})


def sample_config(
    path: Path,
    base_url: str,
    *,
    root: Path,
    corpus: Path | None = None,
    sources: list[str] | None = None,
    store_path: str | None = None,
    language: str = "zh",
    digest: list[str] = (),
    extra: list[str] = (),
) -> Path:
    """A radar.toml for a sample corpus served on 127.0.0.1, as a user would write it, every path
    inside `root`; `sources` keeps only those names, `digest` adds keys to [digest]."""
    lines = [
        f'data_dir = "{root / "data"}"',
        "[kafka]",
        'bootstrap = "embedded"',
        "[store]",
        f'path = "{store_path or root / "data" / "radar.duckdb"}"',
        "[digest]",
        'timezone = "Asia/Shanghai"',
        f'language = "{language}"',
        "lookback_days = 14",
        *digest,
        # Every sample source is on one local host: politeness delays would only slow the tests.
        "[fetch]",
        "per_host_interval_s = 0",
        "arxiv_interval_s = 0",
    ]
    for sample in sample_sources(base_url, corpus):
        if sources is not None and sample.name not in sources:
            continue
        lines += [
            "[[sources]]",
            f'name = "{sample.name}"',
            f'kind = "{sample.kind}"',
            f'url = "{sample.url}"',
            f'tier = "{sample.tier}"',
            "local = true",
        ]
        if sample.publisher:
            lines.append(f'publisher = "{sample.publisher}"')
        if sample.organisation:
            lines.append(f'organisation = "{sample.organisation}"')
    path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return path


def run_digest_over_corpus(corpus: Path, tmp_path: Path, *, start: str, end: str, lang: str) -> Path:
    """`radar digest --lang LANG` over `corpus` served on 127.0.0.1, in a child process with a fresh
    config under `tmp_path` (no RADAR_ variables of the test run); returns the digest JSON's path."""
    out = tmp_path / "out"
    with serve_corpus(corpus) as server:
        config = sample_config(tmp_path / "radar.toml", server.base_url, root=tmp_path, corpus=corpus, language=lang)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
        command = [sys.executable, "-m", "app.cli", "digest", "--config", str(config), "--from", start, "--to", end,
                   "--out", str(out), "--lang", lang]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return out / f"digest-{end}.json"


def source(name: str, kind: str, url: str, *, local: bool = True, **extra: Any) -> SourceConfig:
    return SourceConfig(name=name, kind=kind, url=url, tier=extra.pop("tier", "media"), local=local, **extra)


def read_topic(bootstrap: str, kafka: KafkaSettings, topic: str) -> list[KafkaRecord]:
    consumer = make_consumer(bootstrap, kafka)
    try:
        records: list[KafkaRecord] = []
        tps = partitions_of(consumer, topic)
        for tp, end in end_offsets(consumer, tps).items():
            records.extend(read_range(consumer, tp, 0, end))
        return records
    finally:
        consumer.close()


def envelopes(bootstrap: str, kafka: KafkaSettings, topic: str) -> list[Any]:
    return [parse_envelope(record.value) for record in read_topic(bootstrap, kafka, topic)]


@dataclass
class Scripted:
    """Responses per path, served in order; the last one repeats."""

    responses: dict[str, list[tuple[int, dict[str, str], bytes]]]
    base_url: str = ""
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def headers_of(self, path: str) -> list[dict[str, str]]:
        return [headers for full, headers, _t in self.requests if full.split("?", 1)[0] == path]


@contextmanager
def scripted_server(responses: dict[str, list[tuple[int, dict[str, str], bytes]]]) -> Iterator[Scripted]:
    """A purpose-built server on 127.0.0.1 for status codes, 429s and counting hits."""
    state = Scripted(responses)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            return

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            path = self.path.split("?", 1)[0]
            with lock:
                count = state.hits[path]
                state.hits[path] += 1
                state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()))
            script = state.responses.get(path) or [(404, {"Content-Type": "text/plain"}, b"not found")]
            status, headers, body = script[min(count, len(script) - 1)]
            send_body(self, status, body, headers)

    with serve_in_thread(Handler) as base_url:
        state.base_url = base_url
        yield state
