"""The pieces that make unattended runs fail loudly, in-process (tests/test_prefect_deployments.py runs
them through a real server and worker): preflight checks naming the key, the retry condition,
the broker a failed run started, the signed failure notice."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.digest_corpus import configure_test_prefect

configure_test_prefect()  # before prefect is imported, as every caller must

from prefect.states import Completed, Failed  # noqa: E402

from infra.broker import EmbeddedBroker  # noqa: E402
from infra.config import ConfigError, Settings, StoreSettings, WebhookConfig  # noqa: E402
from infra.prefect_env import broker_for_run, forward_to_run_logger, retry_unless_permanent  # noqa: E402
from infra.preflight import check_path, check_settings, is_permanent, load_checked  # noqa: E402
from infra.run_failure import FailureNotice, first_line, notify_failure  # noqa: E402
from infra.store import StoreDamaged  # noqa: E402
from infra.webhooks import load_secret, verify  # noqa: E402
from tests.webhook_support import receiver  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_store_path_under_a_regular_file_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "notadir").write_text("x")
    with pytest.raises(ConfigError, match=r"^store\.path: .*/notadir/radar\.duckdb: .*/notadir is not a directory$"):
        check_path("store.path", tmp_path / "notadir" / "radar.duckdb", is_dir=False)
    with pytest.raises(ConfigError, match=r"^data_dir: .*/notadir is not a directory$"):
        check_path("data_dir", tmp_path / "notadir", is_dir=True)
    with pytest.raises(ConfigError, match=r"^store\.path: .* is a directory, not a file$"):
        check_path("store.path", tmp_path, is_dir=False)
    check_path("store.path", tmp_path / "new" / "deeper" / "radar.duckdb", is_dir=False)  # creatable: fine
    assert not (tmp_path / "new").exists()  # a check creates nothing


def test_no_config_and_no_sources_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RADAR_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="^RADAR_CONFIG: not set and no config_path"):
        load_checked(None)
    config = tmp_path / "radar.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    monkeypatch.setenv("RADAR_CONFIG", "")
    with pytest.raises(ConfigError, match="^RADAR_CONFIG: not set"):
        load_checked(None)
    settings = load_checked(str(config))  # no sources needed for process/rollup/digest
    with pytest.raises(ConfigError, match=r"^sources: no enabled \[\[sources\]\] in .*radar\.toml"):
        check_settings(settings, need_sources=True)
    with pytest.raises(ConfigError, match="no source named .nope."):
        check_settings(settings, need_sources=True, source_names=["nope"])


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001 - a real raised exception, with its traceback
        return caught


def test_retry_condition_retries_only_transient_errors() -> None:
    for permanent in (
        ConfigError("store.path: x"),
        PermissionError(13, "denied"),
        StoreDamaged("truncated"),
        FileExistsError(17, "File exists"),
    ):
        assert retry_unless_permanent(None, None, Failed(data=_raised(permanent))) is False, permanent
        assert is_permanent(permanent)
    for transient in (TimeoutError("broker"), ConnectionRefusedError(111, "refused"), RuntimeError("lock")):
        assert retry_unless_permanent(None, None, Failed(data=_raised(transient))) is True, transient
    # A permanent cause behind a wrapper is still permanent.
    try:
        try:
            raise PermissionError(13, "denied")
        except PermissionError as inner:
            raise RuntimeError("opening the store failed") from inner
    except RuntimeError as outer:
        assert is_permanent(outer)
    assert retry_unless_permanent(None, None, Completed()) is True


def test_broker_started_by_a_failed_run_is_stopped(tmp_path: Path) -> None:
    log = logging.getLogger("test.flow_failures")
    settings = Settings(data_dir=tmp_path / "data", store=StoreSettings(path=tmp_path / "data" / "radar.duckdb"))
    broker = EmbeddedBroker(settings.data_dir)
    with pytest.raises(RuntimeError, match="boom"), broker_for_run(settings, log):
        assert broker.state() is not None
        raise RuntimeError("boom")
    assert broker.state() is None  # it started it, the run failed: stopped
    try:
        with broker_for_run(settings, log):
            pass
        state = broker.state()
        assert state is not None  # success: kept for the next process run
        with pytest.raises(RuntimeError), broker_for_run(settings, log):
            raise RuntimeError("boom")
        assert broker.state() == state  # not started by this run: never touched
    finally:
        broker.stop()


def test_project_warnings_reach_the_run_logger(caplog: pytest.LogCaptureFixture) -> None:
    target = logging.getLogger("test.run_logger")
    with caplog.at_level(logging.WARNING, logger="test.run_logger"), forward_to_run_logger(target):
        logging.getLogger("infra.dlq").warning("dead letter [%s] %s: %s", "fetch", "broken-feed", "HTTP 404")
        logging.getLogger("infra.dlq").info("not forwarded")
    logging.getLogger("infra.dlq").warning("after the run: not forwarded")
    forwarded = [r.getMessage() for r in caplog.records if r.name == "test.run_logger"]
    assert forwarded == ["infra.dlq: dead letter [fetch] broken-feed: HTTP 404"]


def test_failure_notice_is_signed_and_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RADAR_TEST_NOTICE_SECRET", SECRET)
    notice = FailureNotice(
        flow="process",
        flow_run_id="0b1c",
        flow_run_name="icy-koel",
        state="Failed",
        error=first_line("Flow run encountered an exception: ConfigError: store.path: x\nTraceback"),
    )
    assert notice.error == "Flow run encountered an exception: ConfigError: store.path: x"
    with receiver() as standard, receiver() as slack:
        settings = Settings(
            data_dir=tmp_path,
            alerts={
                "webhooks": [
                    WebhookConfig(url=standard.url, secret_env="RADAR_TEST_NOTICE_SECRET", local=True, name="ops"),
                    WebhookConfig(url=slack.url, format="slack", local=True, name="chat"),
                ]
            },
        )
        assert notify_failure(settings, notice) == [("ops", "HTTP 200"), ("chat", "HTTP 200")]
        got = standard.next()
        body = json.loads(got.body)
        assert body["flow"] == "process" and body["flow_run_id"] == "0b1c" and body["error"] == notice.error
        assert got.headers["webhook-id"] == "flow-run-0b1c" and verify(load_secret(SECRET), got.headers, got.body)
        assert "store.path: x" in json.loads(slack.next().body)["text"] + slack.requests[0].body.decode()
