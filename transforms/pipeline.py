"""The processing pipeline of one micro-batch.

    offset ranges ─► read ─► parse ─► normalize ─► classify ─► extract      (per record, fused)
                 ─► gather the batch once ─► dedupe ─► cluster ─► score       (one DoFn over the batch)
                     every stage's dead letters ─► one NDJSON output

Dedupe, cluster and score each need the whole batch in a fixed order, so the per-stage
composition (`ProcessBatchByStage`: one PTransform per stage, as the stage files define them)
gathers the batch three times and hands state around as side inputs. `ProcessBatch` runs the
same stage functions but gathers once: classify and extract read nothing dedupe writes (and
dedupe reads nothing they write), so they run per record before the gather, and the batch
then goes through `dedupe_items` -> `assign_events` -> `score_event` in one DoFn. Outputs are
identical (tests/test_pipeline_equivalence.py); Beam's per-element encoding is paid once
instead of ~13 times per item.

Runner-agnostic: nothing here assumes an in-process runner. Outputs leave as NDJSON
files in the batch directory (a local path here, an object-store prefix on Dataflow),
which `infra.sink` loads into DuckDB together with the consumed offsets.
"""

from __future__ import annotations

import json
import math
import pickle
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam import coders
from apache_beam.options.pipeline_options import PipelineOptions

from infra.config import Settings
from schemas.dead_letter import DeadLetter
from schemas.envelope import dump_envelope
from schemas.event import Event
from schemas.item import Item
from transforms import score as score_stage
from transforms.classify import Classify, ClassificationRules, classify_item, load_classification_rules
from transforms.cluster import ClusterIntoEvents, EventIndex, assign_events
from transforms.dedupe import Dedupe, DedupeIndex, dedupe_items
from transforms.extract import EntityRules, Extract, extract_item, load_entity_rules
from transforms.normalize import Normalize, normalize_record
from transforms.read import OffsetRange, ParseEnvelopes, ReadOffsetRanges, parse_record
from transforms.score import ScoreEvents, ScoringRules, event_members, load_scoring_rules, score_event

__all__ = ["BatchState", "ProcessBatch", "ProcessBatchByStage", "ProcessRecords", "ProcessRecordsByStage",
           "decide_batch", "prepare_record", "run_batch"]  # fmt: skip

DEAD_LETTER = "dead_letter"
EVENTS = "events"


@dataclass(frozen=True)
class BatchState:
    """Cross-batch state read from DuckDB before the batch; enters as side inputs."""

    dedupe_index: DedupeIndex
    event_index: EventIndex
    as_of: datetime


def _to_json_line(model: Any) -> str:
    return dump_envelope(model).decode()


# --------------------------------------------------------------------------- the stage functions, composed


def prepare_record(
    record: Any, class_rules: ClassificationRules, entity_rules: EntityRules
) -> Item | DeadLetter:
    """parse -> normalize -> classify -> extract for one Kafka record (the per-record half of the batch)."""
    received = parse_record(record)
    if isinstance(received, DeadLetter):
        return received
    item = normalize_record(received)
    if isinstance(item, DeadLetter):
        return item
    return extract_item(classify_item(item, class_rules), entity_rules)


def _score_events(
    items: Sequence[Item], event_index: EventIndex, as_of: datetime, rules: ScoringRules
) -> tuple[list[Event], list[DeadLetter]]:
    """What `ScoreEvents` does, over the clustered items of one batch."""
    by_event: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.event_id is not None:
            by_event[item.event_id].append(item)
    # Earliest two (first_seen, event_id) per product over the batch's events (ScoreEvents' batch_firsts).
    firsts: dict[str, list[tuple[datetime, str]]] = {}
    for keyed in by_event.items():
        for product, value in score_stage._event_product_firsts(keyed, event_index):
            known = firsts.get(product)
            firsts[product] = [value] if known is None else sorted({*known, value})[:2]
    events: list[Event] = []
    dead: list[DeadLetter] = []
    for event_id, members_items in by_event.items():
        ordered = sorted(members_items, key=lambda it: it.item_id)
        try:
            members = event_members(event_id, ordered, event_index)
            earlier = score_stage._earlier_events(event_id, members, firsts, event_index)
            events.append(score_event(event_id, members, as_of=as_of, earlier_events=earlier, rules=rules))
        except ValueError as exc:
            dead.append(score_stage._dead_letter(event_id, ordered, str(exc), exc, as_of))
    return events, dead


def decide_batch(
    items: Iterable[Item],
    dedupe_index: DedupeIndex,
    event_index: EventIndex,
    *,
    threshold: float,
    as_of: datetime,
    rules: ScoringRules | None = None,
) -> tuple[list[Item], list[Event], list[DeadLetter]]:
    """dedupe -> cluster -> score over one gathered batch of classified, extracted items.

    Returns (items with duplicate_of and event_id set, scored events, dead letters of cluster and score).
    """
    if not math.isclose(dedupe_index.threshold, threshold):
        raise ValueError(f"index was built with threshold {dedupe_index.threshold}, stage configured with {threshold}")
    deduped = dedupe_items(list(items), dedupe_index, threshold)
    clustered, cluster_dead = assign_events(deduped, event_index)
    events, score_dead = _score_events(clustered, event_index, as_of.astimezone(UTC), rules or load_scoring_rules())
    return clustered, events, cluster_dead + score_dead


# --------------------------------------------------------------------------- Beam: one gather per batch


class _PrepareFn(beam.DoFn):
    def __init__(self, categories_path: str | None = None, entities_path: str | None = None) -> None:
        self._paths = (categories_path, entities_path)
        self._rules: tuple[ClassificationRules, EntityRules] | None = None

    def setup(self) -> None:
        self._rules = (load_classification_rules(*self._paths), load_entity_rules(self._paths[1]))

    def process(self, record: Any) -> Iterator[Any]:
        assert self._rules is not None
        result = prepare_record(record, *self._rules)
        if isinstance(result, DeadLetter):
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, result)
        else:
            yield result


class _BatchCoder(coders.Coder):
    """A whole list of items in one pickle: the gather pays one encode per bundle, not one per item."""

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes) -> Any:
        return pickle.loads(encoded)

    def is_deterministic(self) -> bool:
        return False


class _GatherBatch(beam.CombineFn):
    """All items of the batch in one list (lifted: each bundle pre-gathers its own share)."""

    def create_accumulator(self) -> list[Item]:
        return []

    def add_input(self, accumulator: list[Item], item: Item) -> list[Item]:
        accumulator.append(item)
        return accumulator

    def add_inputs(self, accumulator: list[Item], items: Iterable[Item]) -> list[Item]:
        accumulator.extend(items)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[list[Item]]) -> list[Item]:
        merged: list[Item] = []
        for accumulator in accumulators:
            merged.extend(accumulator)
        return merged

    def extract_output(self, accumulator: list[Item]) -> list[Item]:
        return accumulator

    def get_accumulator_coder(self) -> coders.Coder:
        return _BatchCoder()


class _DecideBatchFn(beam.DoFn):
    def __init__(self, threshold: float, as_of: datetime) -> None:
        self._threshold = threshold
        self._as_of = as_of
        self._rules: ScoringRules | None = None

    def setup(self) -> None:
        self._rules = load_scoring_rules()

    def process(self, items: list[Item], dedupe_index: DedupeIndex, event_index: EventIndex) -> Iterator[Any]:
        decided, events, dead = decide_batch(items, dedupe_index, event_index, threshold=self._threshold,
                                             as_of=self._as_of, rules=self._rules)
        yield from decided
        for event in events:
            yield beam.pvalue.TaggedOutput(EVENTS, event)
        for letter in dead:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)


class ProcessRecords(beam.PTransform):
    """KafkaRecord -> {'items', 'events', 'dead_letters'} PCollections of models, gathering the batch once."""

    def __init__(self, state: BatchState, threshold: float) -> None:
        super().__init__()
        self._state = state
        self._threshold = threshold
        load_classification_rules()  # a bad data file fails here, before the pipeline runs
        load_entity_rules()

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        p = records.pipeline
        dedupe_index = p | "DedupeIndex" >> beam.Create([self._state.dedupe_index])
        event_index = p | "EventIndex" >> beam.Create([self._state.event_index])
        prepared = records | "Prepare" >> beam.ParDo(_PrepareFn()).with_outputs(DEAD_LETTER, main="good")
        decided = (
            prepared.good
            | "GatherBatch" >> beam.CombineGlobally(_GatherBatch()).without_defaults()
            | "DecideBatch" >> beam.ParDo(
                _DecideBatchFn(self._threshold, self._state.as_of),
                beam.pvalue.AsSingleton(dedupe_index),
                beam.pvalue.AsSingleton(event_index),
            ).with_outputs(EVENTS, DEAD_LETTER, main="items")
        )
        dead_letters = (prepared[DEAD_LETTER], decided[DEAD_LETTER]) | "AllDeadLetters" >> beam.Flatten()
        return {"items": decided["items"], "events": decided[EVENTS], "dead_letters": dead_letters}


class ProcessBatch(beam.PTransform):
    """OffsetRange -> {'items', 'events', 'dead_letters'} PCollections of models."""

    def __init__(self, bootstrap: str, settings: Settings, state: BatchState) -> None:
        super().__init__()
        self._bootstrap = bootstrap
        self._settings = settings
        self._state = state

    def expand(self, ranges: beam.PCollection) -> dict[str, beam.PCollection]:
        records = ranges | "Read" >> ReadOffsetRanges(self._bootstrap, self._settings.kafka)
        threshold = self._settings.processor.near_duplicate_threshold
        return records | "Records" >> ProcessRecords(self._state, threshold)


# --------------------------------------------------------------------------- Beam: one PTransform per stage


class ProcessRecordsByStage(beam.PTransform):
    """The same as `ProcessRecords`, composed of the per-stage PTransforms (three gathers, side inputs)."""

    def __init__(self, state: BatchState, threshold: float) -> None:
        super().__init__()
        self._state = state
        self._threshold = threshold

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        p = records.pipeline
        # One-element PCollections; the stages wrap them as singleton side inputs.
        dedupe_index = p | "DedupeIndex" >> beam.Create([self._state.dedupe_index])
        event_index = p | "EventIndex" >> beam.Create([self._state.event_index])

        parsed = records | "Parse" >> ParseEnvelopes()
        normalized = parsed.good | "Normalize" >> Normalize()
        deduped = normalized.good | "Dedupe" >> Dedupe(dedupe_index, threshold=self._threshold)
        classified = deduped.good | "Classify" >> Classify()
        extracted = classified.good | "Extract" >> Extract()
        clustered = extracted.good | "Cluster" >> ClusterIntoEvents(event_index)
        scored = clustered.good | "Score" >> ScoreEvents(event_index, as_of=self._state.as_of)

        dead_letters = (
            parsed.dead_letter,
            normalized.dead_letter,
            deduped.dead_letter,
            classified.dead_letter,
            extracted.dead_letter,
            clustered.dead_letter,
            scored.dead_letter,
        ) | "AllDeadLetters" >> beam.Flatten()
        return {"items": clustered.good, "events": scored.good, "dead_letters": dead_letters}


class ProcessBatchByStage(ProcessBatch):
    """`ProcessBatch` composed of the per-stage PTransforms."""

    def expand(self, ranges: beam.PCollection) -> dict[str, beam.PCollection]:
        records = ranges | "Read" >> ReadOffsetRanges(self._bootstrap, self._settings.kafka)
        threshold = self._settings.processor.near_duplicate_threshold
        return records | "Records" >> ProcessRecordsByStage(self._state, threshold)


# --------------------------------------------------------------------------- one batch


def run_batch(
    ranges: list[OffsetRange],
    *,
    bootstrap: str,
    settings: Settings,
    state: BatchState,
    out_dir: Path,
    by_stage: bool = False,
) -> None:
    """Run one bounded micro-batch; its outputs land as NDJSON files in `out_dir`.

    `by_stage=True` runs the per-stage composition instead (same outputs, slower).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # flags=[]: otherwise Beam parses the CLI's own sys.argv as pipeline options.
    options = PipelineOptions(flags=[], runner=settings.processor.runner)
    process = (ProcessBatchByStage if by_stage else ProcessBatch)(bootstrap, settings, state)
    with beam.Pipeline(options=options) as p:
        outputs = p | "OffsetRanges" >> beam.Create(ranges) | "Process" >> process
        for kind, pcoll in outputs.items():
            (
                pcoll
                | f"{kind}ToJson" >> beam.Map(_to_json_line)
                | f"Write{kind}" >> beam.io.WriteToText(str(out_dir / kind), file_name_suffix=".ndjson",
                                                        shard_name_template="-SSSSS-of-NNNNN")
            )
    (out_dir / "_SUCCESS").write_text(json.dumps({"ranges": len(ranges)}))
