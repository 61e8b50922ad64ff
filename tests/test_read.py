"""Reading a micro-batch: offset ranges read inside a DoFn, envelopes parsed, bad values dead-lettered."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from app.read import OffsetRange, ReadOffsetRanges
from infra.config import KafkaSettings
from infra.kafka import KafkaRecord, make_producer
from schemas.envelope import dump_envelope
from tests.factories import raw_post
from transforms.parse import ParseEnvelopes

OPTIONS = PipelineOptions(runner="FnApiRunner")


def _record(offset: int, value: bytes, key: bytes = b"k") -> KafkaRecord:
    return KafkaRecord("radar.raw.v1", 0, offset, key, value, 1776000000000)


def test_parse_envelopes_good_and_dead_letter_outputs() -> None:
    post = raw_post(1)
    records = [
        _record(0, dump_envelope(post), post.key.encode()),
        _record(1, b"{oops"),
        _record(2, b'{"schema": "raw.post", "version": 9}'),
    ]
    with TestPipeline(options=OPTIONS) as p:
        result = p | beam.Create(records) | ParseEnvelopes()
        assert_that(
            result.good | "Keys" >> beam.Map(lambda r: (r.envelope.key, r.coordinates.offset)),
            equal_to([(post.key, 0)]),
            label="CheckGood",
        )
        assert_that(
            result.dead_letter | "Reasons" >> beam.Map(lambda d: (d.coordinates.offset, d.stage, d.reason[:20])),
            equal_to([(1, "envelope", "invalid JSON: key mu"), (2, "envelope", "unknown envelope raw")]),
            label="CheckDeadLetters",
        )


def test_read_offset_ranges_reads_exactly_the_range(kafka_settings: KafkaSettings) -> None:
    producer = make_producer(kafka_settings.bootstrap, kafka_settings)
    futures = [producer.send(kafka_settings.raw_topic, key=b"same-key", value=b"v%d" % i) for i in range(30)]
    producer.flush()
    partition = futures[0].get(10).partition
    producer.close()
    ranges = [
        OffsetRange(kafka_settings.raw_topic, partition, 5, 12),
        OffsetRange(kafka_settings.raw_topic, partition, 20, 23),
    ]
    with TestPipeline(options=OPTIONS) as p:
        values = (
            p
            | beam.Create(ranges)
            | ReadOffsetRanges(kafka_settings.bootstrap, kafka_settings)
            | beam.Map(lambda r: (r.offset, r.value))
        )
        expected = [(i, b"v%d" % i) for i in [*range(5, 12), *range(20, 23)]]
        assert_that(values, equal_to(expected))


def test_a_second_pipeline_reads_with_the_consumer_the_first_one_kept(kafka_settings: KafkaSettings) -> None:
    """A long-lived processor runs a pipeline per batch: the read DoFn's consumer is kept between them
    (no new bootstrap per batch), reads the next range right whatever it read before, and is closed
    with the processor."""
    import app.read as read

    producer = make_producer(kafka_settings.bootstrap, kafka_settings)
    futures = [producer.send(kafka_settings.raw_topic, key=b"kept", value=b"k%d" % i) for i in range(20)]
    producer.flush()
    partition = futures[0].get(10).partition
    producer.close()
    read.close_idle_consumers()
    made: list[object] = []
    real_make = read.make_consumer

    def counting_make(*args: object, **kwargs: object) -> object:
        consumer = real_make(*args, **kwargs)  # type: ignore[arg-type]
        made.append(consumer)
        return consumer

    read.make_consumer = counting_make  # type: ignore[assignment]
    try:
        for start, stop in ((2, 9), (0, 4), (15, 20)):
            with TestPipeline(options=OPTIONS) as p:
                values = (
                    p
                    | beam.Create([OffsetRange(kafka_settings.raw_topic, partition, start, stop)])
                    | ReadOffsetRanges(kafka_settings.bootstrap, kafka_settings)
                    | beam.Map(lambda r: (r.offset, r.value))
                )
                assert_that(values, equal_to([(i, b"k%d" % i) for i in range(start, stop)]))
    finally:
        read.make_consumer = real_make
    assert len(made) == 1, "one consumer for three pipelines"
    kept = made[0]
    assert read._CONSUMERS.take(kafka_settings.bootstrap, kafka_settings) is kept
    read._CONSUMERS.give(kafka_settings.bootstrap, kafka_settings, kept)  # type: ignore[arg-type]
    read.close_idle_consumers()
    assert kept._closed  # type: ignore[attr-defined]
