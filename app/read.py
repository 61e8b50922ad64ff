"""Reading a micro-batch: Kafka offset ranges in, Kafka records out, read inside the workers.

The pipeline is fed offset ranges, not records: pickling records through
`beam.Create` runs at ~3k elements/s, while a DoFn that reads its range from Kafka
itself handles 10k records in ~0.6 s (DESIGN.md §7). Bounded ranges also keep the
pipeline runner-agnostic (Beam's own ReadFromKafka needs Java here).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from kafka import KafkaConsumer, TopicPartition

from infra.config import KafkaSettings
from infra.kafka import KafkaRecord, consumer_options, make_consumer, probe_bootstrap, read_range

__all__ = ["OffsetRange", "ReadOffsetRanges", "close_idle_consumers"]


@dataclass(frozen=True)
class OffsetRange:
    """Records of one partition with start <= offset < stop."""

    topic: str
    partition: int
    start: int
    stop: int


class _Consumers:
    """Idle consumers of this process, kept between the pipelines that read with them.

    The in-process runner keeps its read DoFn, and the consumer it holds, from one batch to the
    next (`app.pipeline._KeptWorkers`); a DoFn set up again (after a failed batch, a reconnect, for
    another configuration) takes one from here: a new consumer costs its bootstrap, a metadata round
    trip and an I/O thread (a one-record batch took 85 ms with a new consumer, 58 ms with a kept
    one, measured). Consumers with equal
    options are interchangeable (`read_range` assigns and seeks); the least recently kept are
    closed beyond `_MAX_IDLE`, and `close_idle_consumers` closes the rest (the processor's close).
    """

    _MAX_IDLE = 4

    def __init__(self) -> None:
        self._idle: list[tuple[str, KafkaConsumer]] = []
        self._lock = threading.Lock()

    @staticmethod
    def _key(bootstrap: str, kafka: KafkaSettings) -> str:
        return repr(sorted(consumer_options(bootstrap, kafka).items()))

    def take(self, bootstrap: str, kafka: KafkaSettings) -> KafkaConsumer:
        key = self._key(bootstrap, kafka)
        with self._lock:
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i][0] == key:
                    return self._idle.pop(i)[1]
        return make_consumer(bootstrap, kafka)

    def give(self, bootstrap: str, kafka: KafkaSettings, consumer: KafkaConsumer) -> None:
        key = self._key(bootstrap, kafka)
        with self._lock:
            self._idle.append((key, consumer))
            closing = self._idle[: -self._MAX_IDLE]
            del self._idle[: -self._MAX_IDLE]
        for _, old in closing:
            old.close()

    def close_idle(self) -> None:
        with self._lock:
            closing, self._idle = self._idle, []
        for _, consumer in closing:
            consumer.close()


_CONSUMERS = _Consumers()


def close_idle_consumers() -> None:
    """Close the consumers kept for later batches (a processor that stops)."""
    _CONSUMERS.close_idle()


class _ReadRangeFn(beam.DoFn):
    def __init__(self, bootstrap: str, kafka: KafkaSettings) -> None:
        self._bootstrap = bootstrap
        self._kafka = kafka
        self._consumer: Any = None

    def start_bundle(self) -> None:
        # A broker gone since the batch was planned fails here in seconds, naming its address,
        # not after the client's ~30 s of bootstrap retries (issue 10). Per bundle, not in setup:
        # an in-process runner keeps this DoFn from one batch to the next.
        probe_bootstrap(self._bootstrap, timeout_s=2.0)
        if self._consumer is None:
            self._consumer = _CONSUMERS.take(self._bootstrap, self._kafka)

    def process(self, offset_range: OffsetRange) -> Iterator[KafkaRecord]:
        tp = TopicPartition(offset_range.topic, offset_range.partition)
        # read_range assigns and seeks: what the consumer read for an earlier batch does not matter.
        yield from read_range(self._consumer, tp, offset_range.start, offset_range.stop)

    def teardown(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            _CONSUMERS.give(self._bootstrap, self._kafka, consumer)


class ReadOffsetRanges(beam.PTransform):
    """OffsetRange -> KafkaRecord, read inside the workers."""

    def __init__(self, bootstrap: str, kafka: KafkaSettings) -> None:
        super().__init__()
        if not bootstrap:
            raise ValueError("bootstrap servers are required")
        self._bootstrap = bootstrap
        self._kafka = kafka

    def expand(self, ranges: beam.PCollection) -> beam.PCollection:
        # Each range is read by one worker. Spreading ranges over workers is the input's job:
        # `beam.Create` of several ranges (run_batch) already reshuffles them, and a second
        # reshuffle here cost every micro-batch another shuffle stage (~0.1 s, measured).
        return ranges | "ReadRange" >> beam.ParDo(_ReadRangeFn(self._bootstrap, self._kafka))
