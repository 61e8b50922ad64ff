"""Shared fixtures: a real embedded broker per session, unique topics and a DuckDB file per test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.broker import EmbeddedBroker
from infra.config import KafkaSettings, Settings, StoreSettings
from infra.kafka import ensure_topics

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
