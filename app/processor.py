"""The processor: bounded micro-batches from `radar.raw.v1` into DuckDB, effectively once.

One batch:
  1. read the offsets stored in DuckDB and the cross-batch state (short read-write open),
  2. learn partition ends (`highwater()` after a poll — DESIGN.md §7),
  3. run the Beam pipeline over the offset ranges with the DuckDB file released,
  4. send the batch's dead letters and alerts to Kafka (stable ids: a resend after a
     crash is a repeat consumers drop, never a loss),
  5. commit results AND the consumed offsets in one DuckDB transaction.
A crash anywhere before 5 leaves DuckDB as it was; the batch is recomputed from the
same offsets and state on restart. Upserts by key make even a doubled commit harmless.

`--follow` is a loop of such batches: no local Python runner fires windows over an
unbounded Kafka source, so bounded micro-batches are the streaming mode here.

With an in-process runner (FnApiRunner, the default) step 1 reads DuckDB only for the first
batch: the process keeps the cross-batch state (dedupe index, event members, clustering state,
alert ids, offsets) and brings it up to date in step 5 from what that same transaction stored
(`_LiveState`), the batch works on it in place instead of a pickled copy, and any failure drops
it, so the next batch reads it again. A batch then costs what it holds, not what the store
holds; a restart still reads exactly the state the last commit left.

`--follow` with the kept state runs each batch's step 5 in a thread while the next batch is read
from Kafka and prepared (`_overlapped_batch`); that batch's decide step waits until the commit has
brought the kept state up to date (it needs only the items stored; the rest of the transaction is
written meanwhile), and nothing of it is sent before the commit ended. The order of effects is the
one above, batch after batch: a commit that fails fails the batch after it too, the kept state is
dropped, and a restart starts from the last commit.
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kafka import TopicPartition
from kafka.errors import KafkaConnectionError

from app.alerts import SourceView, build_alerts, record_alerts, sources_from_index, sources_from_items
from app.read import OffsetRange, close_idle_consumers
from infra.broker import BrokerError, BrokerStopped, resolve_bootstrap
from infra.config import Settings
from infra.crashpoints import crash_point
from infra.dlq import DeadLetterProducer
from infra.kafka import (
    close_producer,
    end_offsets,
    make_consumer,
    make_producer,
    partitions_of,
    probe_bootstrap,
)
from infra.session import KafkaSession
from infra.sink import BatchFiles, commit_batch, load_offsets
from infra.store import Store
from infra.webhooks import SharedStore, WebhookDispatcher
from schemas.alert import Alert
from schemas.envelope import dump_envelope, parse_envelope
from schemas.event import Event

if TYPE_CHECKING:
    from transforms.cluster import EventIndex
    from transforms.dedupe import DedupeIndex
    from transforms.events import ClusterState

__all__ = ["BatchReport", "ConcurrentProcessorError", "Processor", "ProcessReport"]

log = logging.getLogger(__name__)

CONSUMER_NAME = "processor"
# The longest the processor keeps the DuckDB file open between consecutive batches when nobody asks
# for it (infra/store.py): radar's own readers ask and get it after the batch in progress; this
# bounds the wait of tools that cannot ask (the duckdb CLI) against the lock timeout they use.
_HOLD_STORE_S = 10.0


# While following, the batch thread runs Python nearly all the time, and a thread woken by I/O (a
# webhook POST's response, a DuckDB call of the commit thread returning, the Kafka clients) waits
# for the GIL up to the interpreter's switch interval, 5 ms by default: it paced the one-at-a-time
# webhook deliveries to ~5 ms each. 1 ms, in four alternating pairs of alert_latency runs: produce ->
# webhook p99 2.15-2.86 s against 2.67-3.42 s, topic -> webhook p50 510-691 ms against 794-1,169 ms.
_FOLLOW_SWITCH_INTERVAL_S = 0.001


@dataclass(frozen=True)
class BatchReport:
    records: int
    items: int
    events: int
    dead_letters: int
    alerts: int
    seconds: float
    lag_after: int
    # Seconds per step (state, pipeline, alerts, send, commit, gc): where a batch's time went.
    # "advance" (a part of commit) brings the kept state up to the batch: with "state", what the
    # cross-batch state costs a batch.
    phases: dict[str, float] = field(default_factory=dict, compare=False)


# The counters of a BatchReport that add up over batches (a typo is a type error, not an AttributeError).
BatchCounter = Literal["records", "items", "events", "dead_letters", "alerts"]


@dataclass
class ProcessReport:
    batches: list[BatchReport] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(b.records for b in self.batches)

    def total(self, name: BatchCounter) -> int:
        return sum(getattr(b, name) for b in self.batches)

    def described(self) -> str:
        """What the batches did, for the CLI's last line ("processed ...", "stopped after ...")."""
        return (
            f"{self.records} records in {len(self.batches)} batch(es): {self.total('items')} items, "
            f"{self.total('events')} event updates, {self.total('dead_letters')} dead letters, "
            f"{self.total('alerts')} alerts"
        )

    def summary(self) -> str:
        """One line for flow logs and the window's step report."""
        return (
            f"{self.records} records -> {self.total('items')} items, {self.total('dead_letters')} dead letters,"
            f" {self.total('alerts')} alerts"
        )


class ConcurrentProcessorError(RuntimeError):
    """Two processors consumed the same partitions; this one's batch was discarded, nothing lost."""


def _close_kept_workers() -> None:
    # app.pipeline imports Beam, which a processor that ran no pipeline need not pay for.
    pipeline = sys.modules.get("app.pipeline")
    if pipeline is not None:
        pipeline.close_kept_workers()


class _FrozenHeap:
    """Keeps a long-lived processor's heap out of Python's full garbage collections.

    The kept state is hundreds of thousands of objects (~500k at 100k stored items) that live
    for the whole run, and a full collection walks every one of them with the GIL held: at 100k
    stored, 6 in 16 batches took 0.3-0.4 s each (1.9 s in all, measured), a pause that grew with
    the store and stopped the webhook thread too. After each committed batch, what is left is
    collected (frozen objects are skipped, so this walks only what arrived since the last batch)
    and frozen. Cycles among frozen objects that die later wait for `collect_all`: when `follow`
    has waited a poll interval for nothing, and every `_FULL_COLLECTION_BATCHES` batches under a
    steady load.
    """

    def __init__(self) -> None:
        self.frozen = False
        self.batches = 0  # batches settled since the last full collection

    def settle(self) -> None:
        gc.collect()
        gc.freeze()
        self.frozen = True
        self.batches += 1
        if self.batches >= _FULL_COLLECTION_BATCHES:
            self.collect_all()

    def collect_all(self) -> None:
        """A full collection, then everything frozen again; nothing when no batch settled since the last."""
        if self.batches:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.batches = 0

    def thaw(self) -> None:
        """Hand the heap back to ordinary collection (a dropped state, the processor's end)."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False
            self.batches = 0


# Under a steady load a processor is never idle; a full collection every this many batches bounds
# what dead cycles among frozen objects can hold (one pause in that many batches, not one in three).
_FULL_COLLECTION_BATCHES = 200


@dataclass
class _Computed:
    """A batch through its pipeline, its dead letters and alerts sent: all but its commit."""

    ranges: list[OffsetRange]
    ends: dict[TopicPartition, int]
    stored: dict[int, int]
    stored_at_plan: dict[int, int]
    next_offsets: dict[int, int]
    live: _LiveState
    as_of: datetime
    files: BatchFiles
    items: list[tuple[str, str | None, bytes]]
    dead_letters: list[Any]
    alerts: list[Alert]
    phases: dict[str, float]
    started: float


class _Commit:
    """A batch's commit in its own thread, while `follow` computes the next batch."""

    def __init__(self, commit: Callable[[Callable[[], None]], BatchReport]) -> None:
        """`commit(state_ready)`: the commit, which calls `state_ready` once the kept state is up to it."""
        self._report: BatchReport | None = None
        self._error: BaseException | None = None
        self.waited_s = 0.0  # how long `wait_state` waited
        self._advanced = False  # the commit brought the kept state up to its batch
        self._state_ready = threading.Event()  # set once advanced, or once the commit ended
        self._thread = threading.Thread(target=self._run, args=(commit,), name="batch-commit")
        self._thread.start()

    def _run(self, commit: Callable[[Callable[[], None]], BatchReport]) -> None:
        try:
            self._report = commit(self._mark_advanced)
        except BaseException as exc:  # handed to the thread that waits: nothing is swallowed
            self._error = exc
        finally:
            self._state_ready.set()

    def _mark_advanced(self) -> None:
        self._advanced = True
        self._state_ready.set()

    def wait_state(self) -> None:
        """Wait until the kept state is brought up to this batch (the rest of its transaction may
        still be written then); the commit's error raised here if it ended before that."""
        mark = time.perf_counter()
        self._state_ready.wait()
        if not self._advanced:
            self._thread.join()
        self.waited_s = time.perf_counter() - mark
        if not self._advanced and self._error is not None:
            raise self._error

    def join(self) -> BaseException | None:
        """Wait for the commit to end; its error, if it failed."""
        self._thread.join()
        return self._error

    def wait(self) -> BatchReport:
        """Wait for the commit to end; its report, or its error raised here."""
        error = self.join()
        if error is not None:
            raise error
        assert self._report is not None
        return self._report


@dataclass
class _LiveState:
    """The cross-batch state as the last batch this process committed left it in DuckDB."""

    offsets: dict[int, int]
    as_of: datetime
    dedupe_index: DedupeIndex
    event_index: EventIndex
    cluster_state: ClusterState
    alerted: set[str]


class Processor:
    def __init__(
        self,
        settings: Settings,
        *,
        bootstrap: str | None = None,
        as_of: datetime | None = None,
        session: KafkaSession | None = None,
    ) -> None:
        """`session`: the command's Kafka session (else one is opened here, on `bootstrap` when given)."""
        self.settings = settings
        # With webhooks a dispatcher thread opens the store too: both must share one handle (SharedStore).
        store_class = SharedStore if settings.alerts.webhooks else Store
        self.store = store_class(settings.store.path, settings.store.lock_timeout_s)
        if session is None:
            session = KafkaSession.open(settings, bootstrap=bootstrap, store=self.store)
        self.bootstrap = session.bootstrap
        # Scores depend on recency; a fixed `as_of` makes a replay reproduce them exactly.
        self.as_of = as_of
        from app.pipeline import runs_in_process

        # Kept between batches only when the runner runs the batch in this process (see module doc).
        self._keep_state = runs_in_process(settings)
        self._live: _LiveState | None = None
        self._heap = _FrozenHeap()
        # Built before the Kafka clients: a bad webhook secret fails here, leaking no client.
        self.webhooks = WebhookDispatcher(settings, store=self.store)
        self.consumer = make_consumer(self.bootstrap, settings.kafka)
        self.producer = make_producer(self.bootstrap, settings.kafka)
        self.tps = partitions_of(self.consumer, settings.kafka.raw_topic)
        # Started now, it first delivers what an earlier run recorded and did not deliver.
        self.webhooks.producer = self.producer
        self.webhooks.start()

    def close(self) -> None:
        self._heap.thaw()
        self.store.release()
        # Deliveries first (bounded by alerts.drain_timeout_s): a dead letter needs the producer.
        self.webhooks.close()
        self.consumer.close()
        close_producer(self.producer)
        # The read DoFns of kept workers hold consumers: torn down first, they give them back.
        _close_kept_workers()
        close_idle_consumers()

    def __enter__(self) -> Processor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lag(self) -> dict[int, int]:
        with self.store.read() as con:
            stored = load_offsets(con, CONSUMER_NAME, self.settings.kafka.raw_topic)
        ends = end_offsets(self.consumer, self.tps)
        return {tp.partition: max(0, ends[tp] - stored.get(tp.partition, 0)) for tp in self.tps}

    def run_once(self, progress: Callable[[BatchReport], None] | None = None) -> ProcessReport:
        """Process everything up to the current end offsets, in batches, then return."""
        report = ProcessReport()
        ends = end_offsets(self.consumer, self.tps)
        while True:
            try:
                batch = self.run_batch(ends)
            except Exception as exc:
                if self._broker_alive():
                    raise
                # One line that says what happened, not the Kafka client's error from wherever it noticed.
                raise KafkaConnectionError(
                    f"Kafka at {self.bootstrap} went away during a batch; nothing of it was"
                    " committed, the next run processes it again"
                ) from exc
            if batch is None:
                return report
            report.batches.append(batch)
            if progress is not None:
                progress(batch)

    def follow(
        self,
        should_stop: Callable[[], bool],
        progress: Callable[[BatchReport], None] | None = None,
        on_reconnect: Callable[[str, str], None] | None = None,
    ) -> None:
        """Batches until `should_stop`; a broker that goes away is waited for and reconnected to.

        A lost broker is checked for before every poll: its dead clients would otherwise report
        every partition end as 0 (and the plan would "reread from 0") and fail only after a
        minute's metadata timeout, with a traceback.
        """
        pending: _Commit | None = None
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, _FOLLOW_SWITCH_INTERVAL_S))
        try:
            while not should_stop():
                if not self._broker_alive():
                    self._report_pending(pending, progress)
                    pending = None
                    self._reconnect(should_stop, on_reconnect)
                    continue
                try:
                    ends = end_offsets(self.consumer, self.tps)
                    if self._keep_state:
                        pending, batch = self._overlapped_batch(ends, pending)
                        idle = pending is None
                    else:
                        batch = self.run_batch(ends)
                        idle = batch is None
                    if batch is not None and progress is not None:
                        progress(batch)
                    if idle and not self._wait_for_records(ends):
                        # A poll interval without a record: the full collection's pause delays nothing now.
                        self._heap.collect_all()
                except Exception:
                    if pending is not None:
                        # A commit that went through is reported; one that failed dropped the kept state.
                        if pending.join() is None:
                            if progress is not None:
                                progress(pending.wait())
                        else:
                            self._drop_state()
                        pending = None
                    if self._broker_alive():
                        raise
                    # The broker died under the batch: nothing was committed, the batch is redone.
                    self._reconnect(should_stop, on_reconnect)
                    continue
        finally:
            try:
                # Stopping: the last batch's commit ends (or fails) before follow returns.
                self._report_pending(pending, progress)
            finally:
                sys.setswitchinterval(switch_interval)

    def _report_pending(self, pending: _Commit | None, progress: Callable[[BatchReport], None] | None) -> None:
        """Wait for a batch's commit started by `follow` and report it (its error drops the kept state)."""
        if pending is None:
            return
        try:
            batch = pending.wait()
        except BaseException:
            self._drop_state()
            raise
        self._settle(batch)
        if progress is not None:
            progress(batch)

    def _wait_for_records(self, ends: dict[TopicPartition, int]) -> bool:
        """Return when a record lands past `ends` (True), or after `poll_interval_s` (False; then the
        loop checks `should_stop` and the broker). A fetch, not a sleep: an item that arrives while the
        processor is idle starts a batch within a fetch round trip, not up to a poll interval later."""
        for tp in self.tps:
            self.consumer.seek(tp, ends[tp])
        got = self.consumer.poll(
            timeout_ms=int(self.settings.processor.poll_interval_s * 1000), max_records=1, update_offsets=False
        )
        return bool(got)

    def _broker_alive(self) -> bool:
        try:
            probe_bootstrap(self.bootstrap, timeout_s=2.0)
        except KafkaConnectionError:
            return False
        return True

    def _reconnect(self, should_stop: Callable[[], bool], notify: Callable[[str, str], None] | None) -> None:
        """New clients on the broker now configured: the embedded one (started again if it is not
        running, on whatever port it has now) or the configured cluster, waited for up to
        `kafka.ack_timeout_s`; then the raw topic's incarnation is checked as at start-up."""
        lost = self.bootstrap
        deadline = time.monotonic() + self.settings.kafka.ack_timeout_s
        why = ""
        while True:
            if should_stop():
                return
            try:
                # An embedded broker that crashed is started again; one an operator stopped is waited
                # for (`radar broker start`) up to the ack timeout, not restarted behind their back.
                bootstrap = resolve_bootstrap(self.settings, restart_stopped=False)[0]
                probe_bootstrap(bootstrap, timeout_s=2.0)
                break
            except (KafkaConnectionError, BrokerError) as exc:
                if isinstance(exc, BrokerStopped) and not why:
                    log.warning("%s; waiting up to %.0f s", exc, self.settings.kafka.ack_timeout_s)
                why = f": {exc}" if isinstance(exc, BrokerStopped) else ""
                if time.monotonic() > deadline:
                    raise KafkaConnectionError(
                        f"Kafka at {lost} went away and nothing answered for "
                        f"{self.settings.kafka.ack_timeout_s:.0f} s{why}"
                    ) from None
                time.sleep(min(1.0, self.settings.processor.poll_interval_s))
        log.warning("Kafka at %s went away; reconnecting to %s", lost, bootstrap)
        # The raw topic may be a new one now (offsets reset below): the state is read again.
        self._live = None
        self.consumer.close()
        close_producer(self.producer, timeout_s=1.0)
        _close_kept_workers()  # their read DoFns hold consumers of the broker that went away
        # A restarted embedded broker holds a new, empty raw topic: offsets and cursors are reset.
        self.bootstrap = KafkaSession.open(self.settings, bootstrap=bootstrap, store=self.store).bootstrap
        self.consumer = make_consumer(bootstrap, self.settings.kafka)
        self.producer = make_producer(bootstrap, self.settings.kafka)
        self.tps = partitions_of(self.consumer, self.settings.kafka.raw_topic)
        if getattr(self, "webhooks", None) is not None:
            self.webhooks.producer = self.producer
        if notify is not None:
            notify(lost, bootstrap)

    def run_batch(self, ends: dict[TopicPartition, int]) -> BatchReport | None:
        """One batch up to `ends`, committed before this returns (None: nothing to do)."""
        try:
            computed = self._compute(ends)
            batch = None if computed is None else self._commit(computed)
        except BaseException:
            self._drop_state()
            raise
        if batch is None:
            self.store.release()  # idle: the file is free for others until the next batch
        else:
            self._settle(batch)
        return batch

    def _overlapped_batch(
        self, ends: dict[TopicPartition, int], pending: _Commit | None
    ) -> tuple[_Commit | None, BatchReport | None]:
        """The next batch, computed while `pending` (the previous batch's commit) runs in its thread.

        The batch's records are read and prepared meanwhile; its decide step waits until the previous
        commit has brought the kept state up to that batch (which needs only its items stored: the
        rest of that transaction is written while this batch is decided; DuckDB runs its statements
        without the GIL, so the commit takes the second core), and nothing of it is sent before that
        commit ended. Its own commit is then started in a thread.
        Returns that commit (None: no records) and the previous batch's report. Any failure of either
        drops the kept state, as a failed batch does, and the previous commit's error is raised.
        """
        try:
            computed = self._compute(
                ends,
                before_decide=pending.wait_state if pending is not None else None,
                after_commit=pending.wait if pending is not None else None,
            )
            done = pending.wait() if pending is not None else None
        except BaseException as exc:
            failed = pending.join() if pending is not None else None
            self._drop_state()
            if failed is not None and failed is not exc:
                raise failed from exc
            raise
        if done is not None:
            self._settle(done)
        if computed is None:
            self.store.release()
            return None, done
        # How long this batch waited for the commit before it: its decide step for the state advance
        # (part of "pipeline"), its sending for the commit's end.
        if pending is not None:
            computed.phases["wait"] = computed.phases.get("wait", 0.0) + pending.waited_s
        return _Commit(lambda state_ready: self._commit(computed, state_ready)), done

    def _drop_state(self) -> None:
        # A batch that failed anywhere may have advanced the kept state without committing it.
        self._live = None
        self._heap.thaw()
        self.store.release()

    def _settle(self, batch: BatchReport) -> None:
        if self._keep_state:
            # Batches follow each other: the next commit skips DuckDB's open and closing checkpoint.
            self.store.hold(_HOLD_STORE_S)
            mark = time.perf_counter()
            self._heap.settle()
            batch.phases["gc"] = time.perf_counter() - mark

    def _compute(
        self,
        ends: dict[TopicPartition, int],
        before_decide: Callable[[], object] | None = None,
        after_commit: Callable[[], object] | None = None,
    ) -> _Computed | None:
        """Plan, run the pipeline, send dead letters and alerts: everything of a batch but its commit.
        `before_decide` runs before the kept state is used; `after_commit` (the previous batch's whole
        commit) before DuckDB is opened here and before anything of this batch is sent."""
        from app.pipeline import BatchState, run_batch

        started = time.perf_counter()
        phases: dict[str, float] = {}
        topic = self.settings.kafka.raw_topic
        as_of = self.as_of or datetime.now(UTC)
        live = self._live
        if live is not None and as_of < live.as_of:
            live = self._live = None  # the clock went back: the dedupe horizon must be read again
        if live is None:
            # The state is read from DuckDB here: the whole previous commit first (it advanced the state too).
            wait = after_commit or before_decide
            if wait is not None:
                mark = time.perf_counter()
                wait()
                phases["wait"] = time.perf_counter() - mark
            with self.store.write() as con:
                stored = load_offsets(con, CONSUMER_NAME, topic)
                stored_at_plan = dict(stored)
                ranges = self._plan(stored, ends)
                if not ranges:
                    return None
                live = self._load_state(con, stored_at_plan, as_of)
            ready = None
        else:
            stored = dict(live.offsets)
            stored_at_plan = dict(stored)
            ranges = self._plan(stored, ends)
            if not ranges:
                return None
            kept = live

            def ready() -> None:
                if before_decide is not None:
                    before_decide()
                kept.dedupe_index.advance(as_of)  # type: ignore[attr-defined]

        state = BatchState(
            dedupe_index=live.dedupe_index, event_index=live.event_index, as_of=as_of, cluster_state=live.cluster_state
        )
        phases["state"] = time.perf_counter() - started
        crash_point("after-state-read")
        batch_dir = Path(tempfile.mkdtemp(prefix="batch-", dir=self._batches_dir()))
        try:
            mark = time.perf_counter()
            run_batch(
                ranges,
                bootstrap=self.bootstrap,
                settings=self.settings,
                state=state,
                out_dir=batch_dir,
                in_place=self._keep_state,
                heap_frozen=self._heap.frozen,
                before_decide=ready,
            )
            files = BatchFiles(batch_dir)
            phases["pipeline"] = time.perf_counter() - mark
            crash_point("after-pipeline")
            mark = time.perf_counter()
            items = self._read_items(files)
            dead_letters = self._read_models(files, "dead_letters")
            alerts = self._alerts(
                self._read_models(files, "events"), live.alerted, as_of, items=items, index=state.event_index
            )
            phases["alerts"] = time.perf_counter() - mark
            if after_commit is not None:
                # Nothing of this batch leaves before the batch it was decided on top of is committed.
                mark = time.perf_counter()
                after_commit()
                phases["wait"] = phases.get("wait", 0.0) + time.perf_counter() - mark
            mark = time.perf_counter()
            DeadLetterProducer(self.producer, self.settings.kafka.dlq_topic).send(dead_letters)
            crash_point("after-dlq-send")
            # Wait for every acknowledgement: flush() does not raise on a failed delivery, and an
            # alert recorded as sent without having been delivered would never be sent again.
            sends = [
                self.producer.send(
                    self.settings.kafka.alerts_topic, key=alert.alert_id.encode(), value=dump_envelope(alert)
                )
                for alert in alerts
            ]
            for send in sends:
                send.get(timeout=30)
            crash_point("after-alert-send")
            phases["send"] = time.perf_counter() - mark
        except BaseException:
            shutil.rmtree(batch_dir, ignore_errors=True)
            raise
        next_offsets = {r.partition: r.stop for r in ranges}
        if self._keep_state:
            # The next batch is planned from here, possibly before this one's commit ends (follow);
            # a failed commit drops the kept state, these offsets with it.
            self._live = live
            live.offsets = {**stored_at_plan, **next_offsets}
        return _Computed(
            ranges=ranges,
            ends=ends,
            stored=stored,
            stored_at_plan=stored_at_plan,
            next_offsets=next_offsets,
            live=live,
            as_of=as_of,
            files=files,
            items=items,
            dead_letters=dead_letters,
            alerts=alerts,
            phases=phases,
            started=started,
        )

    def _commit(self, batch: _Computed, state_ready: Callable[[], None] | None = None) -> BatchReport:
        """Commit a computed batch's results and offsets in one DuckDB transaction (step 5).

        `state_ready` is called once the kept state is brought up to the batch, before the rest of
        the transaction is written (`follow`'s next batch may then be decided meanwhile).
        """
        phases = batch.phases
        topic = self.settings.kafka.raw_topic
        live = batch.live

        def advance(con: Any) -> None:
            # What this transaction stored, read back into the kept state; a failure of the commit
            # after this point drops the kept state (run_batch, follow) along with the batch.
            advanced = time.perf_counter()
            placed = {item_id: event_id for item_id, event_id, _ in batch.items}
            self._advance_state(con, live, batch.files, placed, batch.as_of)
            live.alerted.update(alert.alert_id for alert in batch.alerts)
            phases["advance"] = time.perf_counter() - advanced
            if state_ready is not None:
                state_ready()

        try:
            mark = time.perf_counter()
            with self.store.write() as con:
                # Another processor may have committed these ranges meanwhile (an overlapping
                # scheduled run), or a restore put an older file in place: either way our results
                # and kept state are stale and must not be written over the file's offsets.
                if load_offsets(con, CONSUMER_NAME, topic) != batch.stored_at_plan:
                    raise ConcurrentProcessorError(
                        f"offsets on {topic} changed while this batch ran: another processor is running,"
                        " or the store was restored under this one (start it again to read the file afresh)"
                    )
                counts = commit_batch(
                    con,
                    batch.files,
                    consumer=CONSUMER_NAME,
                    topic=topic,
                    next_offsets=batch.next_offsets,
                    dead_letters=batch.dead_letters,
                    alerts=[(a.alert_id, a.event_id, a.level, a.signal_score) for a in batch.alerts],
                    # The kept state needs only the items as stored: it is advanced as soon as they are.
                    on_items_stored=(lambda: advance(con)) if self._keep_state else None,
                )
                # The alerts' JSON and the webhook deliveries they owe, in this same transaction.
                record_alerts(con, batch.alerts, self.settings.alerts)
            phases["commit"] = time.perf_counter() - mark
        finally:
            shutil.rmtree(batch.files.directory, ignore_errors=True)
        crash_point("after-commit")
        if batch.alerts:
            self.webhooks.notify()
        records = sum(r.stop - r.start for r in batch.ranges)
        lag_after = sum(
            max(0, batch.ends[tp] - batch.next_offsets.get(tp.partition, batch.stored.get(tp.partition, 0)))
            for tp in self.tps
        )
        report = BatchReport(
            records,
            counts.items,
            counts.events,
            counts.dead_letters,
            counts.alerts,
            time.perf_counter() - batch.started,
            lag_after,
            phases,
        )
        log.info("batch: %s", report)
        return report

    def _load_state(self, con: Any, offsets: dict[int, int], as_of: datetime) -> _LiveState:
        """The cross-batch state as stored in DuckDB, for a batch at `as_of`."""
        from app.pipeline import load_cluster_state
        from transforms.cluster import load_event_index
        from transforms.dedupe import load_dedupe_index

        proc = self.settings.processor
        cluster_state = load_cluster_state(con)
        return _LiveState(
            offsets=dict(offsets),
            as_of=as_of,
            dedupe_index=load_dedupe_index(
                con, proc.dedupe_horizon_days, as_of, threshold=proc.near_duplicate_threshold, live=self._keep_state
            ),
            # The members of exactly the events the clustering holds open (not a window
            # before processing time), so that links and clustering see the same events.
            event_index=load_event_index(con, proc.event_window_days, as_of, event_ids=cluster_state.open_events()),
            cluster_state=cluster_state,
            alerted={r[0] for r in con.execute("SELECT alert_id FROM alerts_sent").fetchall()},
        )

    def _advance_state(
        self, con: Any, live: _LiveState, files: BatchFiles, placed: dict[str, str | None], as_of: datetime
    ) -> None:
        """Bring the kept state to what DuckDB holds after this batch (`con` is inside its commit).

        The clustering state was advanced in place by the batch. The dedupe index takes the
        batch's rows. The event index drops the events the batch touched, closed or merged away
        and takes back the touched ones still open as a fresh load would list them: the batch's
        rows as stored, the members it held already (re-pointed where merged), and all stored rows
        of an event that is new to it but not to DuckDB (an old event id opened again). Only the
        rows this transaction wrote are read back (DuckDB skips the older row groups), so the cost
        follows the batch, not the store.
        """
        from transforms.cluster import load_event_members
        from transforms.cluster.members import member_with

        live.dedupe_index.refresh(con, as_of, list(placed), just_stored=True)  # type: ignore[attr-defined]
        index = live.event_index
        clustering = live.cluster_state.index
        assert clustering is not None
        merges: dict[str, str] = {}
        for line in files.lines("merges"):
            merge = json.loads(line)
            merges[merge["absorbed"]] = merge["survivor"]
        touched = {event_id for event_id in placed.values() if event_id}
        touched.update(event_id for item_id in placed if (event_id := index.event_of(item_id)))
        touched.update(merges)
        touched.update(merges.values())
        gone = {event_id for event_id in clustering.changed if event_id not in clustering.events}
        reload = {event_id for event_id in touched if event_id in clustering.events}
        window = self.settings.processor.event_window_days
        rows = [
            m
            for m in load_event_members(con, window, as_of, rules=index.rules, item_ids=list(placed), just_stored=True)
            if m.event_id in reload
        ]
        # Open events the index holds whole take the batch's rows (and the members of events merged
        # into them) as changes: their other members stand as stored, so this costs what the batch
        # brought, not the events' size (a survivor of a merge is often the largest event open).
        steady = {event_id for event_id in reload if event_id in index.by_event and event_id not in merges}
        index.drop_members([item_id for item_id in placed if index.event_of(item_id) in steady])
        members = [m for m in rows if m.event_id not in steady]
        arriving = [m for m in rows if m.event_id in steady]
        reload -= steady
        for event_id in reload:
            members.extend(m for m in index.event_members(event_id) if m.item_id not in placed)
        for absorbed, survivor in merges.items():
            if absorbed != survivor and (survivor in reload or survivor in steady):
                (arriving if survivor in steady else members).extend(
                    member_with(m, event_id=survivor) for m in index.event_members(absorbed) if m.item_id not in placed
                )
        unseen = sorted(event_id for event_id in reload if event_id not in index.by_event)
        if unseen:
            older = {
                row[0]
                for row in con.execute(
                    "SELECT DISTINCT event_id FROM items WHERE processed_at < now()"
                    " AND event_id IN (SELECT unnest(?::VARCHAR[]))",
                    [unseen],
                ).fetchall()
            }
            if older:
                members = [m for m in members if m.event_id not in older]
                members.extend(load_event_members(con, window, as_of, rules=index.rules, event_ids=older))
        # load_event_members' order: (time in ms, item id).
        members.sort(key=lambda m: (m.published_at, m.item_id))
        index.replace_events((touched | gone) - steady, members)
        index.add_members(sorted(arriving, key=lambda m: (m.published_at, m.item_id)))
        live.as_of = as_of

    def _batches_dir(self) -> Path:
        path = self.settings.data_dir / "batches"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _plan(self, stored: dict[int, int], ends: dict[TopicPartition, int]) -> list[OffsetRange]:
        budget = self.settings.processor.batch_max_records
        for tp in self.tps:
            if stored.get(tp.partition, 0) > ends[tp]:
                # Shorter than what we consumed and not caught by the topic-id check (a broker
                # without topic ids): reread from 0; upserts by key keep it single.
                log.warning(
                    "%s[%s] end %s is below stored offset %s: rereading from 0",
                    tp.topic,
                    tp.partition,
                    ends[tp],
                    stored[tp.partition],
                )
                stored[tp.partition] = 0
        pending = [
            (tp, stored.get(tp.partition, 0), ends[tp]) for tp in self.tps if ends[tp] > stored.get(tp.partition, 0)
        ]
        if not pending:
            return []
        # Share the batch budget over partitions so a busy one cannot starve the others.
        share = max(1, budget // len(pending))
        return [OffsetRange(tp.topic, tp.partition, start, min(end, start + share)) for tp, start, end in pending]

    @staticmethod
    def _read_items(files: BatchFiles) -> list[tuple[str, str | None, bytes]]:
        """The batch's items as (item id, event id, JSON line): read once, for the alerts' sources and
        the kept state's update (each read and parsed the file on its own)."""
        out = []
        for line in files.lines("items"):
            row = json.loads(line)
            out.append((row["item_id"], row.get("event_id"), line))
        return out

    @staticmethod
    def _read_models(files: BatchFiles, kind: str) -> list[Any]:
        return [parse_envelope(line) for line in files.lines(kind)]

    def _alerts(
        self,
        events: list[Event],
        already: set[str],
        as_of: datetime,
        *,
        items: list[tuple[str, str | None, bytes]] | None = None,
        index: EventIndex | None = None,
    ) -> list[Alert]:
        # An event's members are in this batch's items (`items`: item id, event id, JSON line) and,
        # from earlier batches, in the event index read before the batch: the payload needs no extra
        # DuckDB read.
        def members_of(event_ids: set[str]) -> list[SourceView]:
            stored = sources_from_index(index, event_ids) if index is not None else []
            fresh = sources_from_items(((e, line) for _, e, line in items), event_ids) if items else []
            return stored + fresh

        return build_alerts(events, already, as_of, self.settings.alerts, members_of)
