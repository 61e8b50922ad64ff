"""Kafka as one command uses it, set up once: bootstrap resolved, topics ensured, raw topic reconciled.

Every entry point (ingest, the processor, the window behind `radar digest`) needs the same three
steps before it touches Kafka; done per step, one `radar digest` resolved the bootstrap three
times and reconciled the raw topic twice. A command opens one session and passes it down.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.broker import EmbeddedBroker, resolve_bootstrap
from infra.config import Settings
from infra.kafka import ensure_topics
from infra.recovery import reconcile_raw_topic
from infra.store import Store

__all__ = ["KafkaSession"]


@dataclass
class KafkaSession:
    settings: Settings
    bootstrap: str
    store: Store
    # This session started the embedded broker: a one-shot command stops it when it ends.
    started_broker: bool = False

    @classmethod
    def open(cls, settings: Settings, *, bootstrap: str | None = None, store: Store | None = None) -> KafkaSession:
        """Resolve the bootstrap (starting the embedded broker when configured, unless `bootstrap` is
        given), create missing topics, and reset what referred to an older raw topic."""
        started = False
        if bootstrap is None:
            bootstrap, started = resolve_bootstrap(settings)
        store = store or Store(settings.store.path, settings.store.lock_timeout_s)
        try:
            ensure_topics(bootstrap, settings.kafka)
            reconcile_raw_topic(store, bootstrap, settings.kafka)
        except BaseException:
            if started:
                EmbeddedBroker(settings.data_dir).stop()
            raise
        return cls(settings, bootstrap, store, started)

    def stop_started_broker(self) -> None:
        """Stop the embedded broker if this session started it (what a one-shot command leaves running otherwise)."""
        if self.started_broker:
            EmbeddedBroker(self.settings.data_dir).stop()
            self.started_broker = False
