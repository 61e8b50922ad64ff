"""The production pipeline of one micro-batch: Kafka offset ranges in, NDJSON files for the sink out.

    offset ranges ─► read ─► parse ─► normalize ─► classify ─► extract     (per record, fused; dead letters ride along)
                 ─► gather the batch once (one pickle per bundle)
                 ─► dedupe ─► cluster ─► score ─► items / events / dead_letters NDJSON   (one DoFn over the batch)

The stage composition itself is `transforms/batch.py` (no Kafka, no DuckDB); this module reads the
batch's records from Kafka inside the workers (`app/read.py`), runs that composition, and writes
its outputs where `infra/sink.py` commits them. The per-stage composition (`ProcessBatchByStage`,
plus WriteToText per output) gathers the batch three times and hands state around as side
inputs: ~13 encode/decode round trips per item and ~100 transforms to build and run.
`ProcessBatchToFiles` (what `run_batch` runs) gathers once and writes the NDJSON files in the same
DoFn. Outputs are identical (tests/test_pipeline_equivalence.py).

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
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
import duckdb
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, fn_runner, worker_handlers

from app.read import OffsetRange, ReadOffsetRanges
from infra.config import Settings
from infra.sink import (
    CLUSTER_CLOSED,
    CLUSTER_EVENTS,
    CLUSTER_STATE_FILE,
    load_cluster_event_rows,
    load_cluster_state_blob,
    store_cluster_state,
)
from schemas.envelope import dump_envelope
from transforms.batch import (
    BatchState,
    DecidedBatch,
    DecideFn,
    GatherBatch,
    PrepareFn,
    ProcessRecords,
    ProcessRecordsByStage,
    cluster_event_rows,
    decide_gathered,
    encode_cluster_header,
    to_json_line,
)
from transforms.classify import load_classification_rules
from transforms.events import ClusterState
from transforms.extract import load_entity_rules

__all__ = ["ProcessBatch", "ProcessBatchByStage", "ProcessBatchToFiles", "load_cluster_state", "run_batch",
           "runs_in_process"]  # fmt: skip


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


class _DecideAndWriteFn(DecideFn):
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
                handle.write(
                    b"".join(
                        json.dumps({"absorbed": a, "survivor": s}).encode() + b"\n"
                        for a, s in sorted(decided.merges.items())
                    )
                )
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
        kept = [
            json.dumps({"event_id": event_id, "seq": seq, "event": doc}).encode() + b"\n"
            for event_id, seq, doc in changed
            if doc is not None
        ]
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
                handle.write(
                    b"".join(
                        json.dumps({"item_id": item_id, "signature": base64.b64encode(blob).decode()}).encode() + b"\n"
                        for item_id, blob in signed
                    )
                )
            yield path


@dataclass
class _InPlaceBatch:
    """What one run of an in-place pipeline works on, found in this process by the pipeline's token."""

    ranges: list[OffsetRange]
    state: BatchState
    out_dir: str
    # Called once before the batch is decided: the caller may still be bringing `state` up to date
    # (the previous batch's commit, app/processor.py) while the batch is read and prepared.
    before_decide: Callable[[], object] | None = None
    decided: bool = False


# Batches handed to in-place pipelines by reference, by token, while they run.
_IN_PROCESS: dict[str, _InPlaceBatch] = {}


def _in_place_batch(token: str) -> _InPlaceBatch:
    batch = _IN_PROCESS.get(token)
    if batch is None:
        raise RuntimeError(
            "the batch is handed over in-process only: this runner ran the DoFn in another "
            "process (use run_batch(in_place=False) with it)"
        )
    return batch


class _RangesOfBatchFn(beam.DoFn):
    """Impulse -> the offset ranges of the batch the pipeline's token stands for."""

    def __init__(self, token: str) -> None:
        self._token = token

    def process(self, _: Any) -> Iterator[OffsetRange]:
        yield from _in_place_batch(self._token).ranges


class _DecideInPlaceAndWriteFn(DecideFn):
    """Gathers the batch's prepared records in its bundle, then does `_DecideAndWriteFn`'s work on the
    caller's own state and output directory, found by the pipeline's token.

    Neither is part of the pipeline: the state is not pickled into every batch's pipeline and
    decoded again (~2 s a batch at 5k items, growing with the store), and the pipeline, the same
    for every batch, is built and translated once (`_InPlacePipeline`). The in-process runner runs
    it in the caller's process, which keeps the state between batches, updated in place. Gathering
    in the bundle instead of a CombineGlobally keeps the whole pipeline one fused stage (one bundle
    from the Impulse): no shuffle, one bundle processor, which the runner's kept workers reuse.
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
        if batch.before_decide is not None:
            batch.before_decide()
        decided = decide_gathered(self._gathered, batch.state, self._threshold, self._rules, in_place=True)
        self._gathered = []
        for _ in _DecideAndWriteFn._write(decided, batch.out_dir):
            pass


class _KeptWorkers(worker_handlers.WorkerHandlerManager):  # type: ignore[misc]
    """The workers of one `_ReusedFnApiRunner`, kept from one run (batch) to the next.

    FnApiRunner builds a run's workers anew and closes them at its end, and with them the bundle
    processors: building one (Beam inspects the signature of every method of every DoFn and sets
    up an execution tree) was ~21-24 ms of a one-record batch's ~37 ms pipeline (measured). The
    runner runs the same proto every time, so its bundle descriptors come out the same under the
    same ids, and the bundle processors the kept workers cache serve the next run.
    """

    def close_all(self) -> None:
        pass  # kept for the next run; `close_kept` closes them

    def close_kept(self) -> None:
        super().close_all()


_RUNNING = threading.local()


def _worker_handler_manager(environments: Any, provision_info: Any) -> worker_handlers.WorkerHandlerManager:
    runner = getattr(_RUNNING, "runner", None)
    if runner is None:
        return worker_handlers.WorkerHandlerManager(environments, provision_info)
    if runner.workers is None:
        runner.workers = _KeptWorkers(environments, provision_info)
    return runner.workers


# `FnApiRunner.run_stages` builds its workers through this module-level name; any other runner in
# the process (no `_ReusedFnApiRunner` running in its thread) gets Beam's own, closed after its run.
fn_runner.WorkerHandlerManager = _worker_handler_manager


class _ReusedFnApiRunner(FnApiRunner):  # type: ignore[misc]
    """FnApiRunner that keeps the pipeline proto of its first run, to run it again for later batches,
    and the workers of its runs (`_KeptWorkers`)."""

    proto: beam_runner_api_pb2.Pipeline | None = None
    workers: _KeptWorkers | None = None

    def run_via_runner_api(self, pipeline_proto: beam_runner_api_pb2.Pipeline, options: PipelineOptions) -> Any:
        if self.proto is None:
            self.proto = beam_runner_api_pb2.Pipeline()
            self.proto.CopyFrom(pipeline_proto)
        return super().run_via_runner_api(pipeline_proto, options)

    def run_stages(self, stage_context: Any, stages: Any) -> Any:
        _RUNNING.runner = self
        try:
            return super().run_stages(stage_context, stages)
        except BaseException:
            # A failed bundle may leave its processor and the data channel half-way: start afresh.
            self.close_workers()
            raise
        finally:
            _RUNNING.runner = None

    def close_workers(self) -> None:
        """Tear the kept workers' DoFns down (the read DoFn gives its consumer back)."""
        workers, self.workers = self.workers, None
        if workers is not None:
            workers.close_kept()


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
        self._options = PipelineOptions(
            flags=list(settings.processor.pipeline_options), runner=settings.processor.runner
        )
        self._runner = _ReusedFnApiRunner() if settings.processor.runner == "FnApiRunner" else None

    def run(self, batch: _InPlaceBatch, *, heap_frozen: bool = False) -> None:
        with self.lock:
            _IN_PROCESS[self.token] = batch
            try:
                with _batch_gc(heap_frozen):
                    if self._runner is not None and self._runner.proto is not None:
                        proto = beam_runner_api_pb2.Pipeline()
                        proto.CopyFrom(self._runner.proto)
                        self._runner.run_via_runner_api(proto, self._options).wait_until_finish()
                    else:
                        self._build_and_run()
            finally:
                del _IN_PROCESS[self.token]

    def close_workers(self) -> None:
        """Tear down the workers the runner keeps between batches (after any run in progress)."""
        if self._runner is not None:
            with self.lock:
                self._runner.close_workers()

    def _build_and_run(self) -> None:
        runner = self._runner if self._runner is not None else self._settings.processor.runner
        threshold = self._settings.processor.near_duplicate_threshold
        with beam.Pipeline(runner=runner, options=self._options) as p:
            _ = (
                p
                | "Impulse" >> beam.Impulse()
                | "OffsetRanges" >> beam.ParDo(_RangesOfBatchFn(self.token))
                | "Read" >> ReadOffsetRanges(self._bootstrap, self._settings.kafka)
                | "Prepare" >> beam.ParDo(PrepareFn())
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


def close_kept_workers() -> None:
    """Close the workers every in-process pipeline keeps between batches (a processor that stops)."""
    with _PIPELINES_LOCK:
        pipelines = list(_PIPELINES.values())
    for pipeline in pipelines:
        pipeline.close_workers()


def _in_place_pipeline(bootstrap: str, settings: Settings) -> _InPlacePipeline:
    proc = settings.processor
    key = (
        bootstrap,
        settings.kafka.model_dump_json(),
        proc.near_duplicate_threshold,
        proc.runner,
        tuple(proc.pipeline_options),
    )
    evicted = []
    with _PIPELINES_LOCK:
        pipeline = _PIPELINES.pop(key, None) or _InPlacePipeline(bootstrap, settings)
        _PIPELINES[key] = pipeline  # most recently used last
        while len(_PIPELINES) > 8:  # a process that saw many configurations (a test session)
            evicted.append(_PIPELINES.pop(next(iter(_PIPELINES))))
    # Outside the registry's lock: closing waits for a run of that pipeline still in progress.
    for old in evicted:
        old.close_workers()
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
            | "DecideAndWrite"
            >> beam.ParDo(_DecideAndWriteFn(threshold, self._out_dir), beam.pvalue.AsSingleton(state))
        )


# --------------------------------------------------------------------------- Beam: one PTransform per stage


class ProcessBatchByStage(ProcessBatch):
    """`ProcessBatch` composed of the per-stage PTransforms."""

    def expand(self, ranges: beam.PCollection) -> dict[str, beam.PCollection]:
        records = ranges | "Read" >> ReadOffsetRanges(self._bootstrap, self._settings.kafka)
        threshold = self._settings.processor.near_duplicate_threshold
        return records | "Records" >> ProcessRecordsByStage(self._state, threshold)


# --------------------------------------------------------------------------- one batch


@contextlib.contextmanager
def _batch_gc(heap_frozen: bool = False) -> Iterator[None]:
    """Fewer garbage-collector passes during a batch.

    A batch allocates ~10 objects per record that all live until the batch ends; with the
    default thresholds the collector rescans the growing heap (and Beam's own long-lived
    objects) again and again — ~20% of batch time, measured. Freezing what exists and
    raising the first threshold keeps collection for the end of the batch. A caller that keeps
    its own heap frozen between batches (app/processor.py) says so (`heap_frozen`) and keeps it
    so: `gc.unfreeze` would take everything back. The caller says it because asking Python
    (`gc.get_freeze_count`) walks every frozen object: ~50 ms a batch at 100k items stored.
    """
    thresholds = gc.get_threshold()
    ours = not heap_frozen
    if ours:
        gc.freeze()
    gc.set_threshold(200_000, 50, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if ours:
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
    heap_frozen: bool = False,
    before_decide: Callable[[], object] | None = None,
) -> None:
    """Run one bounded micro-batch; its outputs land as NDJSON files in `out_dir`.

    `by_stage=True` runs the per-stage composition and Beam's WriteToText instead (same
    outputs, several times slower: kept as the reference the fast path is tested against).
    `in_place=True` (an in-process runner only, `runs_in_process`) hands `state` to the pipeline by
    reference and lets the batch advance its clustering state in place (`decide_batch(in_place=True)`):
    for a caller that keeps the state between batches and drops it if the batch fails.
    `heap_frozen=True`: the caller keeps its heap frozen (`gc.freeze`) between batches, and the batch
    leaves it so.
    `before_decide`: called once before `state` is used; in place, after the batch's records are read
    and prepared (the caller may bring `state` up to date meanwhile), else before the pipeline runs.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if in_place:
        if by_stage or not runs_in_process(settings):
            raise ValueError(
                f"runner {settings.processor.runner} {settings.processor.pipeline_options} may run"
                " DoFns in other processes (or by_stage was asked): the state cannot be handed over"
            )
        load_classification_rules()  # a bad data file fails here, before the pipeline runs
        load_entity_rules()
        batch = _InPlaceBatch(list(ranges), state, str(out_dir), before_decide)
        _in_place_pipeline(bootstrap, settings).run(batch, heap_frozen=heap_frozen)
        if not batch.decided and before_decide is not None:
            before_decide()  # a batch whose ranges held no record: the caller's wait still happens
        (out_dir / "_SUCCESS").write_text(json.dumps({"ranges": len(ranges)}))
        return
    if before_decide is not None:
        before_decide()
    # Explicit flags: otherwise Beam parses the CLI's own sys.argv as pipeline options.
    options = PipelineOptions(flags=list(settings.processor.pipeline_options), runner=settings.processor.runner)
    with _batch_gc(heap_frozen), beam.Pipeline(options=options) as p:
        ranges_pcoll = p | "OffsetRanges" >> beam.Create(ranges)
        if not by_stage:
            _ = ranges_pcoll | "Process" >> ProcessBatchToFiles(bootstrap, settings, state, str(out_dir))
        else:
            outputs = ranges_pcoll | "Process" >> ProcessBatchByStage(bootstrap, settings, state)
            for kind, pcoll in outputs.items():
                (
                    pcoll
                    | f"{kind}ToJson" >> beam.Map(to_json_line)
                    | f"Write{kind}"
                    >> beam.io.WriteToText(
                        str(out_dir / kind), file_name_suffix=".ndjson", shard_name_template="-SSSSS-of-NNNNN"
                    )
                )
    (out_dir / "_SUCCESS").write_text(json.dumps({"ranges": len(ranges)}))
