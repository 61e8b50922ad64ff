"""The processing pipeline of one micro-batch.

    offset ranges ─► read ─► parse ─► normalize ─► classify ─► extract     (per record, fused; dead letters ride along)
                 ─► gather the batch once (one pickle per bundle)
                 ─► dedupe ─► cluster ─► score ─► items / events / dead_letters NDJSON   (one DoFn over the batch)

Dedupe, cluster and score each need the whole batch in a fixed order. The per-stage
composition (`ProcessBatchByStage`: one PTransform per stage, as the stage files define them,
plus WriteToText per output) gathers the batch three times and hands state around as side
inputs: ~13 encode/decode round trips per item and ~100 transforms to build and run.
`ProcessBatchToFiles` (what `run_batch` runs) calls the same stage functions but gathers once:
classify and extract read nothing dedupe writes (and dedupe reads nothing they write), so they
run per record before the gather, and the gathered batch goes through `dedupe_items` ->
`assign_events` -> `event_members` + `score_event` in one DoFn that also writes the NDJSON
files. Outputs are identical (tests/test_pipeline_equivalence.py). `ProcessBatch` /
`ProcessRecords` are the same one-gather pipeline with model PCollections as outputs, for
composition and tests.

Runner-agnostic: nothing here assumes an in-process runner. Cross-batch state enters as a
singleton side input; outputs leave as NDJSON files written through Beam's FileSystems in the
batch directory (a local path here, an object-store prefix on Dataflow), which `infra.sink`
loads into DuckDB together with the consumed offsets. With an in-process runner (FnApiRunner,
the default) a long-lived caller may instead hand its own state over by reference
(`run_batch(in_place=True)`): one pipeline per configuration, built and translated once, reads
the batch's ranges and state from this process by token, in one fused stage, and advances the
clustering state in place; pickling the state into every batch's pipeline cost seconds a batch
and grew with the store.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import math
import pickle
import threading
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
import duckdb
from apache_beam import coders
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from infra.config import Settings
from infra.sink import (
    CLUSTER_CLOSED,
    CLUSTER_EVENTS,
    CLUSTER_STATE_FILE,
    load_cluster_event_rows,
    load_cluster_state_blob,
    store_cluster_state,
)
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
from transforms.read import OffsetRange, ParseEnvelopes, ReadOffsetRanges, parse_record
from transforms.score import ScoreEvents, ScoringRules, event_members, load_scoring_rules, score_event

__all__ = ["BatchState", "GatherBatch", "GatheredBatch", "ProcessBatch", "ProcessBatchByStage", "ProcessBatchToFiles",
           "ProcessRecords", "ProcessRecordsByStage", "decide_batch", "load_cluster_state", "prepare_record",
           "run_batch", "runs_in_process"]  # fmt: skip

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
        rows.append((event_id, event.seq, json.dumps(event.to_json(), separators=(",", ":")))
                    if event is not None else (event_id, 0, None))
    return rows


def decode_cluster_state(blob: bytes, events: Iterable[str] = ()) -> ClusterState:
    """The state of a cluster_state blob: a whole version-1 state, or a version-2 header with its
    open events (JSON texts in `seq` order)."""
    data = json.loads(zlib.decompress(blob))
    if data.get("version") == 1:
        return ClusterState.from_json(data)
    return ClusterState.from_parts(data, (json.loads(event) for event in events))


def load_cluster_state(con: duckdb.DuckDBPyConnection) -> ClusterState:
    """The clustering state the last committed batch left (a fresh one before the first batch).

    A version-1 blob (every open event inside) is rewritten as a header and one row per event, in
    the caller's transaction, so the next commit need store only what its batch changes.
    """
    blob = load_cluster_state_blob(con)
    if blob is None:
        return ClusterState()
    data = json.loads(zlib.decompress(blob))
    if data.get("version") != 1:
        return ClusterState.from_parts(data, (json.loads(event) for event in load_cluster_event_rows(con)))
    state = ClusterState.from_json(data)
    assert state.index is not None
    rows = cluster_event_rows(state, state.index.events)
    store_cluster_state(con, encode_cluster_header(state), [(i, seq, doc) for i, seq, doc in rows if doc])
    return state


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
    try:
        return extract_item(classify_item(item, class_rules), entity_rules)
    except Exception as exc:  # noqa: BLE001 - one odd record must not stop the batch
        return DeadLetter.of(
            stage="extract", reason=f"{type(exc).__name__}: {exc}", original=dump_envelope(received.envelope),
            source_name=received.envelope.source.name, coordinates=received.coordinates, error=exc,
        )


def _score_dead_letter(event_id: str, items: Sequence[Item], exc: ValueError, as_of: datetime) -> DeadLetter:
    return score_stage._dead_letter(event_id, sorted(items, key=lambda it: it.item_id), str(exc), exc, as_of)


def _score_events(
    items: Sequence[Item], event_index: EventIndex, as_of: datetime, rules: ScoringRules
) -> tuple[list[Event], list[DeadLetter]]:
    """What `ScoreEvents` does, over the clustered items of one batch."""
    by_event: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.event_id is not None:
            by_event[item.event_id].append(item)
    # Each event's members are built once; product firsts and the score both read them.
    members_of: dict[str, list[Any]] = {}
    failed: dict[str, DeadLetter] = {}
    for event_id, members_items in by_event.items():
        try:
            members_of[event_id] = event_members(event_id, sorted(members_items, key=lambda it: it.item_id),
                                                 event_index)
        except ValueError as exc:
            failed[event_id] = _score_dead_letter(event_id, members_items, exc, as_of)
    # Earliest two (first_seen, event_id) per product over the batch's events (ScoreEvents' batch_firsts).
    firsts: dict[str, list[tuple[datetime, str]]] = {}
    for event_id, members in members_of.items():
        for product, value in score_stage.product_firsts(event_id, members):
            known = firsts.get(product)
            firsts[product] = [value] if known is None else sorted({*known, value})[:2]
    events: list[Event] = []
    for event_id, members in members_of.items():
        try:
            earlier = score_stage._earlier_events(event_id, members, firsts, event_index)
            events.append(score_event(event_id, members, as_of=as_of, earlier_events=earlier, rules=rules))
        except ValueError as exc:
            failed[event_id] = _score_dead_letter(event_id, by_event[event_id], exc, as_of)
    # Dead letters in event order, whichever step failed.
    dead = [failed[event_id] for event_id in by_event if event_id in failed]
    return events, dead


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
    rules = rules or load_scoring_rules()
    if in_place:
        if cluster_state is not None and cluster_state.index is not None:
            cluster_state.index.changed.clear()
        clustered = cluster_batch(deduped, event_index, cluster_state, in_place=True)
        with merged_members(event_index, clustered.merges) as members:
            events, score_dead = _score_events(clustered.items, members, as_of.astimezone(UTC), rules)
    else:
        clustered = cluster_batch(deduped, event_index, cluster_state)
        # Scoring reads the members index the clustering left: merged events' earlier members re-pointed.
        events, score_dead = _score_events(clustered.items, clustered.members, as_of.astimezone(UTC), rules)
    return DecidedBatch(clustered.items, events, clustered.dead_letters + score_dead, clustered.state,
                        clustered.merges)


# --------------------------------------------------------------------------- Beam: one gather per batch


class _PrepareFn(beam.DoFn):
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
            | "Prepare" >> beam.ParDo(_PrepareFn())
            | "Gather" >> beam.CombineGlobally(_GatherBatch()).without_defaults()
        )


def _decide_gathered(
    gathered: Iterable[Item | DeadLetter], state: BatchState, threshold: float, rules: ScoringRules | None,
    *, in_place: bool = False,
) -> DecidedBatch:
    items: list[Item] = []
    early: list[DeadLetter] = []
    for element in gathered:
        (early if isinstance(element, DeadLetter) else items).append(element)
    decided = decide_batch(items, state.dedupe_index, state.event_index, threshold=threshold,
                           as_of=state.as_of, rules=rules, cluster_state=state.cluster_state, in_place=in_place)
    decided.dead_letters[:0] = early
    return decided


class _DecideFn(beam.DoFn):
    """Base of the DoFns that take the gathered batch through dedupe, cluster and score."""

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold
        self._rules: ScoringRules | None = None

    def setup(self) -> None:
        self._rules = load_scoring_rules()

    def _decide(self, gathered: list[Any], state: BatchState) -> DecidedBatch:
        return _decide_gathered(gathered, state, self._threshold, self._rules)


class _DecideBatchFn(_DecideFn):
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
            | "DecideBatch" >> beam.ParDo(_DecideBatchFn(self._threshold), beam.pvalue.AsSingleton(state))
            .with_outputs(EVENTS, DEAD_LETTER, main="items")
        )
        return {"items": decided["items"], "events": decided[EVENTS], "dead_letters": decided[DEAD_LETTER]}


class _DecideAndWriteFn(_DecideFn):
    """The gathered batch -> dedupe, cluster, score -> one NDJSON file per output kind under `out_dir`.

    Writes through Beam's FileSystems (a local path here, an object-store prefix elsewhere).
    Names are fixed, so a retried bundle overwrites its own files; `run_batch` marks the
    batch complete only after the pipeline finished.
    """

    def __init__(self, threshold: float, out_dir: str) -> None:
        super().__init__(threshold)
        self._out_dir = out_dir

    def process(self, gathered: list[Any], state: BatchState) -> Iterator[str]:
        yield from self._write(self._decide(gathered, state), self._out_dir)

    @staticmethod
    def _write(decided: DecidedBatch, out_dir: str) -> Iterator[str]:
        items = decided.items
        for kind, models in (("items", items), ("events", decided.events), ("dead_letters", decided.dead_letters)):
            if not models:
                continue
            path = FileSystems.join(out_dir, f"{kind}-00000-of-00001.ndjson")
            with FileSystems.create(path) as handle:
                handle.write(b"".join(dump_envelope(model) + b"\n" for model in models))
            yield path
        if decided.merges:
            path = FileSystems.join(out_dir, "merges-00000-of-00001.ndjson")
            with FileSystems.create(path) as handle:
                handle.write(b"".join(json.dumps({"absorbed": a, "survivor": s}).encode() + b"\n"
                                      for a, s in sorted(decided.merges.items())))
            yield path
        # The clustering state goes down with the batch's commit: the next batch (or a restart)
        # continues from exactly this point. Its header whole, of its open events only those the
        # batch created, changed or removed (the state was fresh or cleared when the batch began).
        path = FileSystems.join(out_dir, CLUSTER_STATE_FILE)
        with FileSystems.create(path) as handle:
            handle.write(encode_cluster_header(decided.cluster_state))
        yield path
        assert decided.cluster_state.index is not None
        changed = cluster_event_rows(decided.cluster_state, decided.cluster_state.index.changed)
        kept = [json.dumps({"event_id": event_id, "seq": seq, "event": doc}).encode() + b"\n"
                for event_id, seq, doc in changed if doc is not None]
        closed = [json.dumps({"event_id": event_id}).encode() + b"\n" for event_id, _, doc in changed if doc is None]
        for kind, lines in ((CLUSTER_EVENTS, kept), (CLUSTER_CLOSED, closed)):
            if lines:
                path = FileSystems.join(out_dir, f"{kind}-00000-of-00001.ndjson")
                with FileSystems.create(path) as handle:
                    handle.write(b"".join(lines))
                yield path
        # Dedupe signatures stay out of the item's JSON record; persisting them beside it spares
        # the next batch recomputing MinHash for the whole dedupe horizon.
        signed = [(item.item_id, item.dedupe_signature) for item in items if item.dedupe_signature]
        if signed:
            path = FileSystems.join(out_dir, "signatures-00000-of-00001.ndjson")
            with FileSystems.create(path) as handle:
                handle.write(b"".join(
                    json.dumps({"item_id": item_id, "signature": base64.b64encode(blob).decode()}).encode() + b"\n"
                    for item_id, blob in signed
                ))
            yield path


@dataclass
class _InPlaceBatch:
    """What one run of an in-place pipeline works on, found in this process by the pipeline's token."""

    ranges: list[OffsetRange]
    state: BatchState
    out_dir: str
    decided: bool = False


# Batches handed to in-place pipelines by reference, by token, while they run.
_IN_PROCESS: dict[str, _InPlaceBatch] = {}


def _in_place_batch(token: str) -> _InPlaceBatch:
    batch = _IN_PROCESS.get(token)
    if batch is None:
        raise RuntimeError("the batch is handed over in-process only: this runner ran the DoFn in another "
                           "process (use run_batch(in_place=False) with it)")
    return batch


class _RangesOfBatchFn(beam.DoFn):
    """Impulse -> the offset ranges of the batch the pipeline's token stands for."""

    def __init__(self, token: str) -> None:
        self._token = token

    def process(self, _: Any) -> Iterator[OffsetRange]:
        yield from _in_place_batch(self._token).ranges


class _DecideInPlaceAndWriteFn(_DecideFn):
    """Gathers the batch's prepared records in its bundle, then does `_DecideAndWriteFn`'s work on the
    caller's own state and output directory, found by the pipeline's token.

    Neither is part of the pipeline: the state is not pickled into every batch's pipeline and
    decoded again (~2 s a batch at 5k items, growing with the store), and the pipeline, the same
    for every batch, is built and translated once (`_InPlacePipeline`). The in-process runner runs
    it in the caller's process, which keeps the state between batches, updated in place. Gathering
    in the bundle instead of a CombineGlobally keeps the whole pipeline one fused stage (one bundle
    from the Impulse): no shuffle, one bundle processor to set up per batch.
    """

    def __init__(self, threshold: float, token: str) -> None:
        super().__init__(threshold)
        self._token = token
        self._gathered: list[Any] = []

    def start_bundle(self) -> None:
        self._gathered = []

    def process(self, element: Any) -> Iterator[str]:
        self._gathered.append(element)
        return iter(())

    def finish_bundle(self) -> None:
        if not self._gathered:
            return
        batch = _in_place_batch(self._token)
        if batch.decided:
            # A runner that split the fused stage: the batch must be decided whole, so it fails
            # (nothing is committed, the caller reads its state again) rather than be decided in parts.
            raise RuntimeError("the in-place batch reached its decide step in more than one bundle")
        batch.decided = True
        decided = _decide_gathered(self._gathered, batch.state, self._threshold, self._rules, in_place=True)
        self._gathered = []
        for _ in _DecideAndWriteFn._write(decided, batch.out_dir):
            pass


class _ReusedFnApiRunner(FnApiRunner):  # type: ignore[misc]
    """FnApiRunner that keeps the pipeline proto of its first run, to run it again for later batches."""

    proto: beam_runner_api_pb2.Pipeline | None = None

    def run_via_runner_api(self, pipeline_proto: beam_runner_api_pb2.Pipeline, options: PipelineOptions) -> Any:
        if self.proto is None:
            self.proto = beam_runner_api_pb2.Pipeline()
            self.proto.CopyFrom(pipeline_proto)
        return super().run_via_runner_api(pipeline_proto, options)


class _InPlacePipeline:
    """The batch pipeline of one configuration, for in-process runners: Impulse -> the batch's ranges
    -> read -> prepare -> gather, decide and write, one fused stage, with the batch found by token.

    Building a Beam pipeline and translating it to its proto cost ~0.2-0.7 s a batch here, more than
    running it on a small batch (DESIGN.md §7: a tiny pipeline ~0.3 s); FnApiRunner then runs the
    proto of the first run again for every later batch (~0.05 s for a tiny one).
    """

    def __init__(self, bootstrap: str, settings: Settings) -> None:
        _sample_states_briefly()
        self.token = uuid.uuid4().hex
        self.lock = threading.Lock()
        self._bootstrap = bootstrap
        self._settings = settings
        # Explicit flags: otherwise Beam parses the CLI's own sys.argv as pipeline options.
        self._options = PipelineOptions(flags=list(settings.processor.pipeline_options),
                                        runner=settings.processor.runner)
        self._runner = _ReusedFnApiRunner() if settings.processor.runner == "FnApiRunner" else None

    def run(self, batch: _InPlaceBatch) -> None:
        with self.lock:
            _IN_PROCESS[self.token] = batch
            try:
                with _batch_gc():
                    if self._runner is not None and self._runner.proto is not None:
                        proto = beam_runner_api_pb2.Pipeline()
                        proto.CopyFrom(self._runner.proto)
                        self._runner.run_via_runner_api(proto, self._options).wait_until_finish()
                    else:
                        self._build_and_run()
            finally:
                del _IN_PROCESS[self.token]

    def _build_and_run(self) -> None:
        runner = self._runner if self._runner is not None else self._settings.processor.runner
        threshold = self._settings.processor.near_duplicate_threshold
        with beam.Pipeline(runner=runner, options=self._options) as p:
            _ = (
                p
                | "Impulse" >> beam.Impulse()
                | "OffsetRanges" >> beam.ParDo(_RangesOfBatchFn(self.token))
                | "Read" >> ReadOffsetRanges(self._bootstrap, self._settings.kafka)
                | "Prepare" >> beam.ParDo(_PrepareFn())
                | "DecideAndWrite" >> beam.ParDo(_DecideInPlaceAndWriteFn(threshold, self.token))
            )


# Beam's state sampler (per-step timing metrics) sleeps in periods growing to 200 ms, and a bundle's
# end waits for the sleep in progress: ~30 ms a batch on average and up to 200 ms, for metrics
# nobody reads here. 10 ms keeps the metrics and drops the wait.
_STATE_SAMPLING_MS = 10


def _sample_states_briefly() -> None:
    from apache_beam.runners.worker import statesampler

    init = statesampler.StateSampler.__init__
    defaults = getattr(init, "__defaults__", None)
    if defaults == (statesampler.DEFAULT_SAMPLING_PERIOD_MS,) and defaults[0] > _STATE_SAMPLING_MS:
        init.__defaults__ = (_STATE_SAMPLING_MS,)


_PIPELINES: dict[tuple[Any, ...], _InPlacePipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def _in_place_pipeline(bootstrap: str, settings: Settings) -> _InPlacePipeline:
    proc = settings.processor
    key = (bootstrap, settings.kafka.model_dump_json(), proc.near_duplicate_threshold, proc.runner,
           tuple(proc.pipeline_options))
    with _PIPELINES_LOCK:
        pipeline = _PIPELINES.pop(key, None) or _InPlacePipeline(bootstrap, settings)
        _PIPELINES[key] = pipeline  # most recently used last
        while len(_PIPELINES) > 8:  # a process that saw many configurations (a test session)
            del _PIPELINES[next(iter(_PIPELINES))]
        return pipeline


def runs_in_process(settings: Settings) -> bool:
    """Whether the configured runner runs the DoFns in this process (FnApiRunner in memory or in threads)."""
    options = PipelineOptions(flags=list(settings.processor.pipeline_options))
    mode = options.view_as(DirectOptions).direct_running_mode
    return settings.processor.runner in _IN_PROCESS_RUNNERS and mode in ("in_memory", "multi_threading")


# Runners that execute a pipeline's DoFns in the calling process (DirectRunner may hand it to Prism).
_IN_PROCESS_RUNNERS = frozenset({"FnApiRunner", "BundleBasedDirectRunner"})


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


class ProcessBatchToFiles(ProcessBatch):
    """OffsetRange -> NDJSON files `items-*`, `events-*`, `dead_letters-*` in `out_dir` (paths as output)."""

    def __init__(self, bootstrap: str, settings: Settings, state: BatchState, out_dir: str) -> None:
        super().__init__(bootstrap, settings, state)
        self._out_dir = out_dir
        load_classification_rules()
        load_entity_rules()

    def expand(self, ranges: beam.PCollection) -> beam.PCollection:
        state = ranges.pipeline | "BatchState" >> beam.Create([self._state])
        threshold = self._settings.processor.near_duplicate_threshold
        return (
            ranges
            | "Read" >> ReadOffsetRanges(self._bootstrap, self._settings.kafka)
            | "GatherBatch" >> GatherBatch()
            | "DecideAndWrite" >> beam.ParDo(_DecideAndWriteFn(threshold, self._out_dir),
                                             beam.pvalue.AsSingleton(state))
        )


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
            event_index, cluster_state=self._state.cluster_state)
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


class ProcessBatchByStage(ProcessBatch):
    """`ProcessBatch` composed of the per-stage PTransforms."""

    def expand(self, ranges: beam.PCollection) -> dict[str, beam.PCollection]:
        records = ranges | "Read" >> ReadOffsetRanges(self._bootstrap, self._settings.kafka)
        threshold = self._settings.processor.near_duplicate_threshold
        return records | "Records" >> ProcessRecordsByStage(self._state, threshold)


# --------------------------------------------------------------------------- one batch


@contextlib.contextmanager
def _batch_gc() -> Iterator[None]:
    """Fewer garbage-collector passes during a batch.

    A batch allocates ~10 objects per record that all live until the batch ends; with the
    default thresholds the collector rescans the growing heap (and Beam's own long-lived
    objects) again and again — ~20% of batch time, measured. Freezing what exists and
    raising the first threshold keeps collection for the end of the batch.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(200_000, 50, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def run_batch(
    ranges: list[OffsetRange],
    *,
    bootstrap: str,
    settings: Settings,
    state: BatchState,
    out_dir: Path,
    by_stage: bool = False,
    in_place: bool = False,
) -> None:
    """Run one bounded micro-batch; its outputs land as NDJSON files in `out_dir`.

    `by_stage=True` runs the per-stage composition and Beam's WriteToText instead (same
    outputs, several times slower: kept as the reference the fast path is tested against).
    `in_place=True` (an in-process runner only, `runs_in_process`) hands `state` to the pipeline by
    reference and lets the batch advance its clustering state in place (`decide_batch(in_place=True)`):
    for a caller that keeps the state between batches and drops it if the batch fails.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if in_place:
        if by_stage or not runs_in_process(settings):
            raise ValueError(f"runner {settings.processor.runner} {settings.processor.pipeline_options} may run"
                             " DoFns in other processes (or by_stage was asked): the state cannot be handed over")
        load_classification_rules()  # a bad data file fails here, before the pipeline runs
        load_entity_rules()
        _in_place_pipeline(bootstrap, settings).run(_InPlaceBatch(list(ranges), state, str(out_dir)))
        (out_dir / "_SUCCESS").write_text(json.dumps({"ranges": len(ranges)}))
        return
    # Explicit flags: otherwise Beam parses the CLI's own sys.argv as pipeline options.
    options = PipelineOptions(flags=list(settings.processor.pipeline_options), runner=settings.processor.runner)
    with _batch_gc(), beam.Pipeline(options=options) as p:
        ranges_pcoll = p | "OffsetRanges" >> beam.Create(ranges)
        if not by_stage:
            _ = ranges_pcoll | "Process" >> ProcessBatchToFiles(bootstrap, settings, state, str(out_dir))
        else:
            outputs = ranges_pcoll | "Process" >> ProcessBatchByStage(bootstrap, settings, state)
            for kind, pcoll in outputs.items():
                (
                    pcoll
                    | f"{kind}ToJson" >> beam.Map(_to_json_line)
                    | f"Write{kind}" >> beam.io.WriteToText(str(out_dir / kind), file_name_suffix=".ndjson",
                                                            shard_name_template="-SSSSS-of-NNNNN")
                )
    (out_dir / "_SUCCESS").write_text(json.dumps({"ranges": len(ranges)}))
