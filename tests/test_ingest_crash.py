"""Ingest crashed after a source's envelopes were acknowledged and before its cursor commit.

The next run must fetch that source again (its cursor never moved), so nothing is lost; the
re-sent envelopes are keyed repeats the processor lands once. Compared with an uninterrupted
ingest of the same corpus into its own topics and DuckDB file.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from app.processor import Processor
from connectors.ingest import run_ingest
from connectors.sample_server import sample_sources, serve_corpus
from infra.config import Settings
from infra.kafka import ensure_topics
from tests import crash_harness
from tests.connector_support import read_topic, with_sources

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)


def _config(path: Path, settings: Settings, base_url: str) -> Path:
    lines = [
        f'data_dir = "{settings.data_dir}"',
        "[kafka]",
        f'bootstrap = "{settings.kafka.bootstrap}"',
        f'raw_topic = "{settings.kafka.raw_topic}"',
        f'dlq_topic = "{settings.kafka.dlq_topic}"',
        f'alerts_topic = "{settings.kafka.alerts_topic}"',
        "[store]",
        f'path = "{settings.store.path}"',
        "[fetch]",
        "per_host_interval_s = 0",
        "arxiv_interval_s = 0",
    ]
    for source in sample_sources(base_url):
        lines += [
            "[[sources]]",
            f'name = "{source.name}"',
            f'kind = "{source.kind}"',
            f'url = "{source.url}"',
            f'tier = "{source.tier}"',
            "local = true",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _items(settings: Settings) -> dict[str, str]:
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        processor.run_once()
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        return dict(con.execute("SELECT item_id, title FROM items").fetchall())


def test_crash_between_produce_and_cursor_commit_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    reference = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(
                update={
                    "raw_topic": f"{settings.kafka.raw_topic}.ref",
                    "dlq_topic": f"{settings.kafka.dlq_topic}.ref",
                    "alerts_topic": f"{settings.kafka.alerts_topic}.ref",
                }
            ),
            "store": settings.store.model_copy(update={"path": tmp_path / f"ref-{uuid.uuid4().hex[:6]}.duckdb"}),
        }
    )
    ensure_topics(reference.kafka.bootstrap, reference.kafka)
    crashes = [
        crash_harness.Crash("ingest-after-produce", 1, "exit"),
        crash_harness.Crash("ingest-after-produce", 3, "kill"),
    ]
    command = [*crash_harness.process_command()[:3], "ingest"]
    with serve_corpus() as server:
        run_ingest(with_sources(reference, sample_sources(server.base_url)), arxiv_interval_s=0)
        config = _config(tmp_path / "ingest.toml", settings, server.base_url)
        hit = [crash_harness.crash_once(command, crash_harness.child_env(config, c), c) for c in crashes]
        code, stderr = crash_harness.run(command, crash_harness.child_env(config))
    assert code == 0, stderr
    assert hit == ["radar-crash-point ingest-after-produce 1", "radar-crash-point ingest-after-produce 3"]

    keys = Counter(r.key for r in read_topic(settings.kafka.bootstrap, settings.kafka, settings.kafka.raw_topic))
    assert any(n > 1 for n in keys.values()), "the crashed sources were fetched and sent again"
    expected = _items(reference)
    assert expected, "the reference run produced items"
    assert _items(settings) == expected, "crashed ingest + restart lands exactly what one run lands"
