"""What a source may read, what a log may show, what a digest may link (issue 10, defects 1, 5, 10).

- Sources on this machine (DESIGN.md §6): a `file://`, loopback or private source is read only
  with `local = true` (a TOML boolean), and a refused source leaves a dead letter saying why,
  never the bytes of what it was not allowed to read.
- Configured secrets never reach a log line or the CLI's error line, whatever produced the text.
- X-signal URLs are built only from a valid handle and a numeric tweet id.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.digest_corpus import (
    WINDOW_END,
    CorpusEvent,
    CorpusItem,
    configure_test_prefect,
    corpus_settings,
    populate,
    week,
    xss_event,
)

configure_test_prefect()

from connectors.base import SourceRun  # noqa: E402
from connectors.cursors import SourceCursor  # noqa: E402
from connectors.fetch import Fetcher  # noqa: E402
from connectors.ingest import check_sources, run_ingest  # noqa: E402
from connectors.x import post_from_record  # noqa: E402
from digest.build import build_digest  # noqa: E402
from digest.llm import LlmError, polish_text  # noqa: E402
from infra.config import ConfigError, KafkaSettings, LlmSettings, Settings, load_settings  # noqa: E402
from infra.redact import mask_secrets  # noqa: E402
from infra.store import Store  # noqa: E402
from schemas.dead_letter import DeadLetter  # noqa: E402
from schemas.envelope import parse_envelope  # noqa: E402
from schemas.raw import Fetch  # noqa: E402
from schemas.x_urls import x_status_url  # noqa: E402
from tests.connector_support import read_topic, scripted_server, source, with_sources  # noqa: E402

KINDS = ("feed", "html", "jsonl", "arxiv", "x")
NEEDS_LOCAL = "needs local = true"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def canary(tmp_path: Path) -> tuple[Path, str]:
    """A file whose content is a random token: seeing the token anywhere means the file was read."""
    token = f"CANARY-{secrets.token_hex(16)}"
    path = tmp_path / "canary.txt"
    # Not a valid feed, page, JSON line or X page: if it were read, a parse dead letter would carry it.
    path.write_text(f"{token}\n", encoding="utf-8")
    return path, token


def _encodings(token: str) -> list[bytes]:
    raw = f"{token}\n".encode()
    # `original` is base64 in the DLQ JSON; the file starts the original, so its base64 prefix is stable.
    return [token.encode(), base64.b64encode(raw)[:24]]


def _topic_bytes(broker: str, kafka: KafkaSettings) -> tuple[list[bytes], list[DeadLetter]]:
    values = [r.value or b"" for t in (kafka.raw_topic, kafka.dlq_topic) for r in read_topic(broker, kafka, t)]
    letters = [parse_envelope(r.value) for r in read_topic(broker, kafka, kafka.dlq_topic)]
    return values, letters  # type: ignore[return-value]


def _dump_store(path: Path) -> str:
    """Every row of every DuckDB table, as text (blobs as their Python repr)."""
    store = Store(path)
    with store.read() as con:
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        ]
        dump = [f"{table}: {con.execute(f'SELECT * FROM {table}').fetchall()!r}" for table in tables]
    assert "dead_letters" in tables
    return "\n".join(dump)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


# --------------------------------------------------------------------------- defect 1: sources on this machine


def test_file_source_without_local_is_never_read(
    settings: Settings, broker: str, canary: tuple[Path, str], all_logs: pytest.LogCaptureFixture
) -> None:
    path, token = canary
    with scripted_server({"/feed.xml": [(200, {"Content-Type": "application/rss+xml"}, token.encode())]}) as server:
        sources = [source(f"file-{kind}", kind, path.as_uri(), local=False) for kind in KINDS]
        sources.append(source("loopback-feed", "feed", server.base_url + "/feed.xml", local=False))
        configured = with_sources(settings, sources)
        report = run_ingest(configured, arxiv_interval_s=0)
        assert server.hits["/feed.xml"] == 0, "a loopback source without local = true was requested"

    values, letters = _topic_bytes(broker, settings.kafka)
    by_source = {letter.source_name: letter for letter in letters}
    for kind in KINDS:
        letter = by_source[f"file-{kind}"]
        assert f"file:// source {NEEDS_LOCAL}" in letter.reason, letter.reason
        assert letter.original == b"" and letter.stage == "fetch"
        assert report.source(f"file-{kind}").produced == 0
    assert NEEDS_LOCAL in by_source["loopback-feed"].reason
    assert all(report.source(s.name).errors == 1 for s in sources)

    dump = _dump_store(settings.store.path)
    assert f"file:// source {NEEDS_LOCAL}" in dump  # `radar dlq list` shows why
    for needle in _encodings(token):
        for value in values:
            assert needle not in value
        for letter in letters:
            assert needle not in letter.original
        assert needle.decode() not in dump
        assert needle.decode() not in all_logs.text


def test_file_source_with_local_true_is_read(settings: Settings, broker: str, canary: tuple[Path, str]) -> None:
    path, token = canary
    configured = with_sources(settings, [source("file-jsonl", "jsonl", path.as_uri(), local=True)])
    run_ingest(configured, arxiv_interval_s=0)
    _values, letters = _topic_bytes(broker, settings.kafka)
    # Read, and dead-lettered as a bad line: the user asked for this file to be read.
    assert [letter.stage for letter in letters] == ["parse"]
    assert token.encode() in letters[0].original


@pytest.mark.parametrize("value", ['"yes"', '"true"', "1", "0"])
def test_local_must_be_a_toml_boolean(tmp_path: Path, value: str) -> None:
    config = tmp_path / "radar.toml"
    config.write_text(
        f'[[sources]]\nname = "mine"\nkind = "feed"\nurl = "file:///srv/feed.xml"\ntier = "media"\nlocal = {value}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc_info:
        load_settings(config)
    assert "sources.0.local" in str(exc_info.value)
    assert "\n" not in str(exc_info.value)


def test_local_true_loads(tmp_path: Path) -> None:
    config = tmp_path / "radar.toml"
    config.write_text(
        '[[sources]]\nname = "mine"\nkind = "feed"\nurl = "file:///srv/feed.xml"\ntier = "media"\nlocal = true\n',
        encoding="utf-8",
    )
    assert load_settings(config).sources[0].local is True


def test_sources_check_refuses_without_local(settings: Settings, canary: tuple[Path, str]) -> None:
    path, token = canary
    with scripted_server({"/feed.xml": [(200, {"Content-Type": "application/rss+xml"}, token.encode())]}) as server:
        configured = with_sources(
            settings,
            [
                source("file-feed", "feed", path.as_uri(), local=False),
                source("file-jsonl-local", "jsonl", path.as_uri(), local=True),
                source("loopback-feed", "feed", server.base_url + "/feed.xml", local=False),
            ],
        )
        checks = {c.name: c for c in check_sources(configured)}
        assert server.hits["/feed.xml"] == 0
    assert not checks["file-feed"].ok and f"file:// source {NEEDS_LOCAL}" in checks["file-feed"].detail
    assert not checks["loopback-feed"].ok and NEEDS_LOCAL in checks["loopback-feed"].detail
    assert checks["file-jsonl-local"].detail.startswith("0 envelopes, 1 bad line")  # read: it is local
    assert all(token not in c.detail for c in checks.values())


def test_only_a_local_sources_own_file_is_exempt(settings: Settings, canary: tuple[Path, str], tmp_path: Path) -> None:
    """A connector asking for another file than the configured one is refused even with local = true."""
    path, token = canary
    mine = tmp_path / "mine.jsonl"
    mine.write_text("", encoding="utf-8")
    config = source("mine", "jsonl", mine.as_uri(), local=True)
    with Fetcher(settings.fetch) as fetcher:
        run = SourceRun(config, fetcher, settings.fetch, SourceCursor("mine"))
        assert run.fetch(path.as_uri(), trusted=True) is None
    assert len(run.dead_letters) == 1
    letter = run.dead_letters[0]
    assert "not this source's own file" in letter.reason and letter.original == b""
    assert token not in letter.model_dump_json()


def test_local_source_redirect_to_another_local_origin_is_refused(settings: Settings, broker: str) -> None:
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>x</title><guid>g</guid><link>https://example.com/x</link></item></channel></rss>"
    )
    with (
        scripted_server({"/feed.xml": [(200, {"Content-Type": "application/rss+xml"}, feed)]}) as other,
        scripted_server({"/feed.xml": [(302, {"Location": other.base_url + "/feed.xml"}, b"")]}) as mine,
    ):
        configured = with_sources(
            settings, [source("mine", "feed", mine.base_url + "/feed.xml", local=True)], follow_links=False
        )
        report = run_ingest(configured, arxiv_interval_s=0)
        assert mine.hits["/feed.xml"] == 1 and other.hits["/feed.xml"] == 0
    assert report.source("mine").produced == 0
    _values, letters = _topic_bytes(broker, settings.kafka)
    assert letters and "unsafe url" in letters[0].reason


# --------------------------------------------------------------------------- defect 5: secrets in logs


class _EchoingLlm:
    """An endpoint that fails with HTTP 500 and echoes the Authorization header in reason and body."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization", "")
                body = json.dumps({"error": f"bad request with {auth}"}).encode()
                self.send_response(500, f"upstream rejected {auth}")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def echoing_llm() -> Iterator[_EchoingLlm]:
    stub = _EchoingLlm()
    stub.thread.start()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def test_llm_key_echoed_by_the_endpoint_is_masked_in_logs(
    echoing_llm: _EchoingLlm, tmp_path: Path, all_logs: pytest.LogCaptureFixture
) -> None:
    key = f"sk-{secrets.token_hex(20)}"
    settings = corpus_settings(tmp_path).model_copy(
        update={"llm": LlmSettings(endpoint=echoing_llm.endpoint, api_key=key)}  # type: ignore[arg-type]
    )
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    events, loose = week()
    populate(store, events, loose)
    digest = build_digest(store, settings, WINDOW_END, lang="en")
    assert digest.top_events  # polish was attempted and its failure logged
    warnings = [r for r in all_logs.records if r.name == "digest.llm"]
    assert warnings and "Bearer ***" in all_logs.text
    assert key not in all_logs.text
    with pytest.raises(LlmError) as exc_info:
        polish_text("text", [], settings.llm, "en")
    assert key not in str(exc_info.value) and "***" in str(exc_info.value)


def test_secrets_are_masked_whatever_logs_them(
    all_logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = f"xtok-{secrets.token_hex(12)}"
    password = f"pw-{secrets.token_hex(12)}"
    monkeypatch.setenv("MY_X_TOKEN", token)
    Settings(
        kafka=KafkaSettings(sasl_password=password),  # type: ignore[arg-type]
        sources=[source("x", "x", "https://api.x.com/2/tweets/search/recent?query=a", token_env="MY_X_TOKEN")],
    )
    log = logging.getLogger("some.library")
    log.warning("token %s and %r", token, {"password": password})
    try:
        raise RuntimeError(f"failed with {token}")
    except RuntimeError:
        log.exception("it broke")
    assert token not in all_logs.text and password not in all_logs.text
    assert all_logs.text.count("***") >= 3
    assert mask_secrets(f"a {password} b") == "a *** b"


def test_cli_error_line_and_logs_mask_the_llm_key(
    echoing_llm: _EchoingLlm, tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    """`radar digest` as a user runs it: the failing endpoint's echo reaches stderr only masked."""
    key = f"sk-{secrets.token_hex(20)}"
    settings = corpus_settings(tmp_path)
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    events, loose = week()
    populate(store, events, loose)
    config = tmp_path / "radar.toml"
    config.write_text(
        "\n".join(
            [
                f'data_dir = "{tmp_path / "data"}"',
                "[kafka]",
                f'bootstrap = "{kafka_settings.bootstrap}"',
                f'raw_topic = "{kafka_settings.raw_topic}"',
                f'dlq_topic = "{kafka_settings.dlq_topic}"',
                f'alerts_topic = "{kafka_settings.alerts_topic}"',
                "[store]",
                f'path = "{settings.store.path}"',
                "[llm]",
                f'endpoint = "{echoing_llm.endpoint}"',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
    env["RADAR_LLM__API_KEY"] = key
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--config",
            str(config),
            "digest",
            "--from",
            "2026-04-13",
            "--to",
            WINDOW_END.isoformat(),
            "--out",
            str(tmp_path / "out"),
            "--lang",
            "en",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "LLM polish unavailable" in result.stderr and "Bearer ***" in result.stderr
    assert key not in result.stdout + result.stderr
    # The one-line error output of the CLI is masked too.
    failed = subprocess.run(
        [sys.executable, "-m", "app.cli", "--config", str(config), "ingest", "--source", key],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert failed.returncode == 1 and "no source named '***'" in failed.stderr, failed.stderr
    assert key not in failed.stdout + failed.stderr


# --------------------------------------------------------------------------- defect 10: X-signal URLs


@pytest.mark.parametrize(
    ("handle", "tweet_id", "expected"),
    [
        ("OpenAI", "190", "https://x.com/OpenAI/status/190"),
        ("a_1", "2044114196886482946", "https://x.com/a_1/status/2044114196886482946"),
        ("<script>alert(30)</script>", "190", None),
        ("../../evil", "190", None),
        ("a" * 16, "190", None),
        ("", "190", None),
        ("OpenAI", "19a", None),
        ("OpenAI", "١٢٣", None),  # Unicode digits pass str.isdigit
        ("OpenAI", "", None),
    ],
)
def test_x_status_url_validates_handle_and_id(handle: str, tweet_id: str, expected: str | None) -> None:
    assert x_status_url(handle, tweet_id) == expected


def test_x_connector_builds_no_url_from_an_invalid_handle(settings: Settings) -> None:
    config = source("x", "x", "https://api.x.com/2/tweets/search/recent?query=a", local=False)
    with Fetcher(settings.fetch) as fetcher:
        run = SourceRun(config, fetcher, settings.fetch, SourceCursor("x"))
        record = {"id": "190", "text": "hi", "author_id": "42"}
        fetched = Fetch(requested_url=config.url, final_url=config.url, status=200, fetched_at=datetime.now(UTC))
        post = post_from_record(run, record, {"id": "42", "username": "<script>alert(30)</script>"}, fetched)
        assert post.url is None
        post = post_from_record(run, record, {"id": "42", "username": "OpenAI"}, fetched)
        assert post.url == "https://x.com/OpenAI/status/190"


def test_digest_x_signals_never_link_an_invalid_handle(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    events, loose = week()
    hostile = CorpusItem(
        "190",
        "<script>alert(30)</script>",
        "social",
        "2026-04-16T12:00:00+00:00",
        "",
        "an opinion",
        "https://x.com/<script>alert(30)</script>/status/190",
        kind="x",
        handle="<script>alert(30)</script>",
        item_type="opinion",
        engagement=10**7,
    )
    populate(
        store,
        [
            xss_event(),
            CorpusEvent("hostile-x", "Lab ships a model", "product", "corroborated", 90.0, [hostile]),
            *events,
        ],
        loose,
    )
    digest = build_digest(store, settings, WINDOW_END, lang="en")
    assert digest.x_signals, "the valid posts still make signals"
    raw = json.dumps(json.loads(digest.model_dump_json(by_alias=True))["x_signals"])
    assert "<script>" not in raw and "x.com/evil" not in raw
    for signal in digest.x_signals:
        assert x_status_url(signal.handle.lstrip("@"), signal.tweet_id) == signal.url, signal
    # The hostile posts are left out of the X signals (a handle X never issues names no account).
    assert "190" not in {s.tweet_id for s in digest.x_signals}
    assert "2046000000000000001" not in {s.tweet_id for s in digest.x_signals}
