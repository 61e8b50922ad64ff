"""Shared fixtures: a real embedded broker per session, unique topics and a DuckDB file per test, one
Prefect server per session; and how pytest-xdist splits the suite (`make test` runs `-n 2 --dist loadfile`)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infra.broker import EmbeddedBroker
from infra.config import KafkaSettings, Settings, StoreSettings
from infra.kafka import ensure_topics

if TYPE_CHECKING:
    from tests.prefect_support import Ops, PrefectServer

# Tests must not pick up a developer's own configuration.
for _name in [n for n in os.environ if n.startswith("RADAR_")]:
    del os.environ[_name]
os.environ.setdefault("DO_NOT_TRACK", "1")


def wait_for(condition: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy; fail with a clear message at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s: {condition}")
        time.sleep(interval_s)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh embedded broker for the whole session; yields its bootstrap address."""
    data_dir = tmp_path_factory.mktemp("broker-data")
    embedded = EmbeddedBroker(data_dir)
    state, _ = embedded.ensure_running()
    yield state.bootstrap
    embedded.stop()


@pytest.fixture
def kafka_settings(broker: str) -> KafkaSettings:
    """Kafka settings with uuid topic names, so tests never see each other's data."""
    suffix = uuid.uuid4().hex[:10]
    kafka = KafkaSettings(
        bootstrap=broker,
        raw_topic=f"test.raw.{suffix}",
        dlq_topic=f"test.dlq.{suffix}",
        alerts_topic=f"test.alerts.{suffix}",
    )
    ensure_topics(broker, kafka)
    return kafka


@pytest.fixture
def settings(tmp_path: Path, kafka_settings: KafkaSettings) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        kafka=kafka_settings,
        store=StoreSettings(path=tmp_path / "data" / "radar.duckdb", lock_timeout_s=30),
    )


# Imported inside the fixtures: tests/prefect_support.py imports prefect, which must come after
# configure_test_prefect() and only in the sessions that need it.
@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A real `prefect server start` on 127.0.0.1 for the session (each test names its own data dirs)."""
    from tests.prefect_support import prefect_server

    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as server:
        yield server


@pytest.fixture(scope="session")
def ops(prefect_server: PrefectServer) -> Iterator[Ops]:
    """prefect.yaml deployed on the session's server: the work pool, every deployment and a worker."""
    from tests.prefect_support import deployed

    with deployed(prefect_server) as deployment:
        yield deployment


# --- pytest-xdist ---------------------------------------------------------------------------------
# `make test` runs `-n 2 --dist loadfile`: each file is one unit of work, so its module fixtures are
# built once, except that the files using the Prefect server are one unit (the server starts on one
# worker only) and the phase crash test, the longest by far, is a unit of its own. Longest first:
# that test, the Prefect unit, then the files that take 20 s or more (measured in `make test`), then
# the rest as collected, so the suite does not end waiting for one long file (with
# --no-loadscope-reorder xdist keeps the order the workers collected). xdist's own `loadgroup` would
# say the grouping with marks, but it renames nodeids in a way pytest 9 ignores.
PREFECT_FILES = frozenset(
    {
        "tests/test_flows.py",
        "tests/test_ingest_group_deployments.py",
        "tests/test_prefect_deployments.py",
        "tests/test_ops_automation.py",
    }
)
FIRST = "tests/test_processor.py::test_crashes_at_every_phase_lose_and_double_nothing"
LONG_FILES = (
    "tests/test_webhooks.py",
    "tests/test_store.py",
    "tests/test_quiet_runs.py",
    "tests/test_source_security.py",
    "tests/test_config.py",
    "tests/test_broker.py",
)


def _work_unit(nodeid: str) -> str:
    if nodeid == FIRST:
        return nodeid
    path = nodeid.split("::", 1)[0]
    return "prefect" if path in PREFECT_FILES else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    return FileUnits(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # only an xdist worker's order is a schedule
        return

    def rank(item: pytest.Item) -> int:
        unit = _work_unit(item.nodeid)
        if unit == FIRST:
            return 0
        if unit == "prefect":
            return 1
        return 2 + LONG_FILES.index(unit) if unit in LONG_FILES else 2 + len(LONG_FILES)

    items.sort(key=rank)  # stable: the rest keep their order
