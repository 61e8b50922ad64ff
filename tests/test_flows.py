"""The real Prefect flows (no mocks), run in this process against the session's Prefect server
(tests/conftest.py's `prefect_server`, shared with the deployment tests)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.digest_corpus import WINDOW_END, configure_test_prefect, populate, week

configure_test_prefect()  # before prefect is imported, as every caller must

from prefect.client.orchestration import get_client  # noqa: E402
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey  # noqa: E402
from prefect.settings import PREFECT_API_URL, temporary_settings  # noqa: E402

from flows.daily_digest import daily_digest  # noqa: E402
from flows.hourly_rollup import hourly_rollup  # noqa: E402
from infra.config import load_settings  # noqa: E402
from infra.store import Store  # noqa: E402
from schemas.digest import Digest  # noqa: E402
from tests.prefect_support import PrefectServer  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness(prefect_server: PrefectServer) -> Iterator[None]:
    # A server takes ~20 s to start and migrate its database: this module uses the session's.
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        yield


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "radar.toml"
    path.write_text(
        f"data_dir = {str(tmp_path / 'data')!r}\n"
        "[store]\n"
        f"path = {str(tmp_path / 'data' / 'radar.duckdb')!r}\n"
        "[digest]\n"
        'timezone = "Asia/Shanghai"\n'
        'language = "zh"\n'
        f"out_dir = {str(tmp_path / 'out')!r}\n",
        encoding="utf-8",
    )
    settings = load_settings(path)
    events, loose = week()
    populate(Store(settings.store.path), events, loose)
    return path


def test_daily_digest_flow_writes_stores_and_publishes(prefect_harness: None, config: Path, tmp_path: Path) -> None:
    state = daily_digest(window_end=WINDOW_END, config_path=str(config), return_state=True)
    paths = state.result()
    assert [Path(p).name for p in paths] == ["digest-2026-04-19.md", "digest-2026-04-19.json", "digest-2026-04-19.html"]
    digest = Digest.model_validate_json(Path(paths[1]).read_text(encoding="utf-8"))
    assert digest.language == "zh" and len(digest.top_events) == 5
    with Store(load_settings(config).store.path).read() as con:
        assert con.execute("SELECT count(*) FROM digests").fetchone()[0] == 1
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            # This run's artifact: the server also holds the deployment tests' runs.
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["digest-2026-04-19-zh"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            )
        )
    assert artifacts and artifacts[0].type == "markdown"
    assert "今日 Top 5 大事件" in str(artifacts[0].data)

    # Same window again: same files, one stored row (the build task may come from the cache).
    again = daily_digest(window_end=WINDOW_END, lang="en", config_path=str(config), out_dir=str(tmp_path / "en"))
    assert Digest.model_validate_json(Path(again[1]).read_text(encoding="utf-8")).language == "en"


def test_hourly_rollup_flow(prefect_harness: None, config: Path) -> None:
    start, end = datetime(2026, 4, 14, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC)
    written = hourly_rollup(start=start, end=end, config_path=str(config))
    assert written > 0
    with Store(load_settings(config).store.path).read() as con:
        assert con.execute("SELECT count(*) FROM rollup_hourly").fetchone()[0] == written
