"""One micro-batch's stage functions composed: prepare each record, gather the batch once, decide it.

    Kafka record ─► parse ─► normalize ─► classify ─► extract     (per record, fused; dead letters ride along)
                ─► gather the batch once (one pickle per bundle)
                ─► dedupe ─► cluster ─► score                      (`decide_batch`, over the whole batch)

Dedupe, cluster and score each need the whole batch in a fixed order. Classify and extract read
nothing dedupe writes (and dedupe reads nothing they write), so they run per record before the
gather, and the gathered batch goes through `dedupe_items` -> `cluster_batch` -> `event_members` +
`score_event` at once. `ProcessRecords` is that composition as a PTransform with model
PCollections as outputs; the production pipeline (`app/pipeline.py`) runs the same functions and
writes files for the sink. `ProcessRecordsByStage` composes the per-stage PTransforms as the stage
files define them (three gathers, state as side inputs, several times slower): the reference the
one-gather path is proven equal to (tests/test_pipeline_equivalence.py).

Nothing here touches Kafka or DuckDB: records arrive as values, state as objects.
"""

from __future__ import annotations

import json
import math
import pickle
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam import coders

from schemas.dead_letter import DeadLetter
from schemas.envelope import dump_envelope
from schemas.event import Event
from schemas.item import Item
from transforms import score as score_stage
from transforms.classify import ClassificationRules, Classify, classify_item, load_classification_rules
from transforms.cluster import ClusterIntoEvents, EventIndex, cluster_batch, merged_members
from transforms.dedupe import Dedupe, DedupeIndex, dedupe_items
from transforms.events import ClusterState
from transforms.extract import EntityRules, Extract, extract_item, load_entity_rules
from transforms.normalize import Normalize, normalize_record
from transforms.parse import ParseEnvelopes, parse_record
from transforms.score import ScoreEvents, ScoringRules, default_scoring_rules

__all__ = ["BatchState", "DecidedBatch", "GatherBatch", "GatheredBatch", "ProcessRecords", "ProcessRecordsByStage",
           "cluster_event_rows", "decide_batch", "decode_cluster_state", "encode_cluster_header",
           "encode_cluster_state", "prepare_record"]  # fmt: skip

DEAD_LETTER = "dead_letter"
EVENTS = "events"


def encode_cluster_state(state: ClusterState) -> bytes:
    """The whole clustering state in one blob (version 1: compressed JSON, ~8x smaller, measured on UCI)."""
    return zlib.compress(json.dumps(state.to_json(), separators=(",", ":")).encode(), 1)


def encode_cluster_header(state: ClusterState) -> bytes:
    """The state's header as stored in DuckDB's cluster_state row (version 2: the events are rows of their own)."""
    return zlib.compress(json.dumps(state.header_json(), separators=(",", ":")).encode(), 1)


def cluster_event_rows(state: ClusterState, event_ids: Iterable[str]) -> list[tuple[str, int, str | None]]:
    """(event id, seq, Event JSON) of these events; JSON None for one the state no longer holds open."""
    assert state.index is not None
    rows: list[tuple[str, int, str | None]] = []
    for event_id in sorted(event_ids):
        event = state.index.events.get(event_id)
        rows.append(
            (event_id, event.seq, json.dumps(event.to_json(), separators=(",", ":")))
            if event is not None
            else (event_id, 0, None)
        )
    return rows


def decode_cluster_state(blob: bytes, events: Iterable[str] = ()) -> ClusterState:
    """The state of a cluster_state blob: a whole version-1 state, or a version-2 header with its
    open events (JSON texts in `seq` order)."""
    data = json.loads(zlib.decompress(blob))
    if data.get("version") == 1:
        return ClusterState.from_json(data)
    return ClusterState.from_parts(data, (json.loads(event) for event in events))


@dataclass(frozen=True)
class BatchState:
    """Cross-batch state read from DuckDB before the batch; enters as side inputs."""

    dedupe_index: DedupeIndex
    event_index: EventIndex
    as_of: datetime
    # The online clustering's memory as the previous batch left it (read only: a batch works on a copy).
    cluster_state: ClusterState = field(default_factory=ClusterState)


@dataclass(frozen=True)
class DecidedBatch:
    """What one batch decided: its items, scored events and dead letters, and the state it leaves."""

    items: list[Item]
    events: list[Event]
    dead_letters: list[DeadLetter]
    cluster_state: ClusterState
    merges: dict[str, str]  # event folded away by a merge -> the event it now belongs to


def to_json_line(model: Any) -> str:
    return dump_envelope(model).decode()


# --------------------------------------------------------------------------- the stage functions, composed


def prepare_record(record: Any, class_rules: ClassificationRules, entity_rules: EntityRules) -> Item | DeadLetter:
    """parse -> normalize -> classify -> extract for one Kafka record (the per-record half of the batch)."""
    received = parse_record(record)
    if isinstance(received, DeadLetter):
        return received
    item = normalize_record(received)
    if isinstance(item, DeadLetter):
        return item
    try:
        return extract_item(classify_item(item, class_rules), entity_rules)
    except Exception as exc:  # noqa: BLE001 - one odd record must not stop the batch
        return DeadLetter.of(
            stage="extract",
            reason=f"{type(exc).__name__}: {exc}",
            original=dump_envelope(received.envelope),
            source_name=received.envelope.source.name,
            coordinates=received.coordinates,
            error=exc,
        )


def decide_batch(
    items: Iterable[Item],
    dedupe_index: DedupeIndex,
    event_index: EventIndex,
    *,
    threshold: float,
    as_of: datetime,
    rules: ScoringRules | None = None,
    cluster_state: ClusterState | None = None,
    in_place: bool = False,
) -> DecidedBatch:
    """dedupe -> cluster -> score over one gathered batch of classified, extracted items.

    Items come back with duplicate_of and event_id set; dead letters are those of cluster and score.
    Neither the indexes nor `cluster_state` are modified: the state after the batch is returned.
    With `in_place=True` (a long-lived processor's own state) `cluster_state` itself is advanced
    and returned (its `index.changed` then says what this batch changed), and the event index is
    used in place and left as it was: nothing is copied.
    """
    if not math.isclose(dedupe_index.threshold, threshold):
        raise ValueError(f"index was built with threshold {dedupe_index.threshold}, stage configured with {threshold}")
    deduped = dedupe_items(list(items), dedupe_index, threshold)
    rules = rules or default_scoring_rules()
    if in_place:
        if cluster_state is not None and cluster_state.index is not None:
            cluster_state.index.changed.clear()
        clustered = cluster_batch(deduped, event_index, cluster_state, in_place=True)
        with merged_members(event_index, clustered.merges) as members:
            events, score_dead = score_stage.score_batch(
                clustered.items, members, as_of.astimezone(UTC), rules, clustered.built
            )
    else:
        clustered = cluster_batch(deduped, event_index, cluster_state)
        # Scoring reads the members index the clustering left: merged events' earlier members re-pointed.
        events, score_dead = score_stage.score_batch(
            clustered.items, clustered.members, as_of.astimezone(UTC), rules, clustered.built
        )
    return DecidedBatch(clustered.items, events, clustered.dead_letters + score_dead, clustered.state, clustered.merges)


# --------------------------------------------------------------------------- Beam: one gather per batch


class PrepareFn(beam.DoFn):
    """parse -> normalize -> classify -> extract; an Item or a DeadLetter per record, in one output.

    Dead letters travel with the items into the gather (there are few), so the batch needs
    one gather and one writer, not one per output kind.
    """

    def __init__(self) -> None:
        self._rules: tuple[ClassificationRules, EntityRules] | None = None

    def setup(self) -> None:
        self._rules = (load_classification_rules(), load_entity_rules())

    def process(self, record: Any) -> Iterator[Item | DeadLetter]:
        assert self._rules is not None
        yield prepare_record(record, *self._rules)


class GatheredBatch(list):  # type: ignore[type-arg]
    """The prepared Items and DeadLetters of one batch as one element (coded by `_BatchCoder`)."""


class _BatchCoder(coders.Coder):
    """A whole batch of models in one pickle: the gather pays one encode per bundle, not one per item."""

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes) -> Any:
        return pickle.loads(encoded)

    def estimate_size(self, value: Any) -> int:
        # Beam samples element sizes for its metrics, by default by encoding the element again:
        # for a gathered batch that is a second full pickle of everything (~25% of a batch, measured).
        return 1024 * len(value) if isinstance(value, list) else 1024

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self) -> type:
        return GatheredBatch


# The gathered batch keeps this coder when it crosses from the gather to the decide step;
# with Beam's default (pickle per element type) it was encoded twice and decoded twice more.
coders.registry.register_coder(GatheredBatch, _BatchCoder)


@beam.typehints.with_input_types(Any)
@beam.typehints.with_output_types(GatheredBatch)
class _GatherBatch(beam.CombineFn):
    """Everything of the batch in one list (lifted: each bundle pre-gathers its own share)."""

    def create_accumulator(self) -> GatheredBatch:
        return GatheredBatch()

    def add_input(self, accumulator: GatheredBatch, element: Any) -> GatheredBatch:
        accumulator.append(element)
        return accumulator

    def add_inputs(self, accumulator: GatheredBatch, elements: Iterable[Any]) -> GatheredBatch:
        accumulator.extend(elements)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[GatheredBatch]) -> GatheredBatch:
        merged = GatheredBatch()
        for accumulator in accumulators:
            merged.extend(accumulator)
        return merged

    def extract_output(self, accumulator: GatheredBatch) -> GatheredBatch:
        return accumulator

    def get_accumulator_coder(self) -> coders.Coder:
        return _BatchCoder()


class GatherBatch(beam.PTransform):
    """KafkaRecord -> one element: the list of the batch's prepared Items and DeadLetters (none if empty)."""

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return (
            records
            | "Prepare" >> beam.ParDo(PrepareFn())
            | "Gather" >> beam.CombineGlobally(_GatherBatch()).without_defaults()
        )


def decide_gathered(
    gathered: Iterable[Item | DeadLetter],
    state: BatchState,
    threshold: float,
    rules: ScoringRules | None,
    *,
    in_place: bool = False,
) -> DecidedBatch:
    items: list[Item] = []
    early: list[DeadLetter] = []
    for element in gathered:
        (early if isinstance(element, DeadLetter) else items).append(element)
    decided = decide_batch(
        items,
        state.dedupe_index,
        state.event_index,
        threshold=threshold,
        as_of=state.as_of,
        rules=rules,
        cluster_state=state.cluster_state,
        in_place=in_place,
    )
    decided.dead_letters[:0] = early
    return decided


class DecideFn(beam.DoFn):
    """Base of the DoFns that take the gathered batch through dedupe, cluster and score."""

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold
        self._rules: ScoringRules | None = None

    def setup(self) -> None:
        # Read once per process: a runner that sets its DoFns up for every batch (any but the
        # processor's kept workers) would otherwise parse the TOML each time (~1 ms).
        self._rules = default_scoring_rules()

    def _decide(self, gathered: list[Any], state: BatchState) -> DecidedBatch:
        return decide_gathered(gathered, state, self._threshold, self._rules)


class _DecideBatchFn(DecideFn):
    def process(self, gathered: list[Any], state: BatchState) -> Iterator[Any]:
        decided = self._decide(gathered, state)
        yield from decided.items
        for event in decided.events:
            yield beam.pvalue.TaggedOutput(EVENTS, event)
        for letter in decided.dead_letters:
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
        state = records.pipeline | "BatchState" >> beam.Create([self._state])
        decided = (
            records
            | "GatherBatch" >> GatherBatch()
            | "DecideBatch"
            >> beam.ParDo(_DecideBatchFn(self._threshold), beam.pvalue.AsSingleton(state)).with_outputs(
                EVENTS, DEAD_LETTER, main="items"
            )
        )
        return {"items": decided["items"], "events": decided[EVENTS], "dead_letters": decided[DEAD_LETTER]}


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
        clustered = extracted.good | "Cluster" >> ClusterIntoEvents(
            event_index, cluster_state=self._state.cluster_state
        )
        # Scoring reads the members index the clustering left (merged events' members re-pointed).
        members = beam.pvalue.AsSingleton(clustered.members, default_value=self._state.event_index)
        scored = clustered.good | "Score" >> ScoreEvents(members, as_of=self._state.as_of)

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
