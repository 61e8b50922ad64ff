"""Run configured sources once: fetch -> envelopes on the raw topic, rejects on the DLQ.

Order of effects per source, which is what makes a crash lose nothing:
1. read the source's cursor (short read transaction);
2. fetch and parse with the store closed (slow, network);
3. send envelopes (keyed by `envelope.key`) and dead letters, flush, and wait for
   every acknowledgement (acks=all);
4. only then write the cursor and the dead-letter rows (short write transaction).
A crash before 4 means the next run re-fetches and re-sends; keyed, idempotent
producing and downstream dedupe make that repeat harmless.

Sources run concurrently, `[fetch] max_concurrency` at a time, each in its own worker
thread doing the four steps above for itself: what one source waits for (a slow host, its
per-host interval, its acknowledgements) never holds another. What the workers share:
- the Fetcher: thread-safe, and where per-host politeness lives (interval, concurrency,
  robots.txt), so it holds across sources on one host;
- the KafkaProducer: thread-safe (kafka-python);
- the Store: step 4 goes through `_GroupCommit`, one short write transaction at a time
  (DuckDB has one writer), holding the cursors of every source acknowledged meanwhile;
- the page cache: pages of *acknowledged* sources only (see `SourceRun.page_cache`).
Progress is told from the calling thread, as sources start and finish; the report lists
sources in configured order whatever order they finished in.
"""

from __future__ import annotations

import functools
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from connectors.arxiv import collect_arxiv, parse_arxiv_page
from connectors.base import SourceRun, describe_fetch_error, token_from_env
from connectors.cursors import CursorStore, SourceCursor
from connectors.feed import FeedParseError, collect_feed, parse_feed
from connectors.fetch import Fetcher, FetchError
from connectors.html import collect_html, parse_page
from connectors.jsonl import collect_jsonl, parse_jsonl_line
from connectors.source_runs import first_failure, last_errors, record_source_run
from connectors.x import XPageError, XRateLimiter, collect_x, pack_queries, parse_x_page, with_query
from infra.config import DEFAULT_GROUPS, ConfigError, Settings, SourceConfig
from infra.crashpoints import crash_point
from infra.dlq import DeadLetterProducer, record_dead_letters
from infra.kafka import close_producer, make_producer
from infra.session import KafkaSession
from infra.store import Store
from infra.urlsafety import check_url_syntax
from schemas.envelope import EnvelopeError, dump_envelope

__all__ = [
    "IngestOutcome",
    "IngestProgress",
    "IngestReport",
    "SourceCheck",
    "SourceReport",
    "check_sources",
    "nothing_to_ingest",
    "run_ingest",
    "select_sources",
]

log = logging.getLogger(__name__)

Collector = Callable[[SourceRun], None]


# The counters of a SourceReport that add up over sources (a typo is a type error, not an AttributeError).
SourceCounter = Literal["fetched", "produced", "unchanged", "dead_lettered", "skipped_links", "errors", "requests"]


@dataclass(frozen=True)
class SourceReport:
    name: str
    kind: str
    fetched: int
    produced: int
    unchanged: int
    dead_lettered: int
    skipped_links: int
    errors: int
    requests: int
    not_modified: bool
    elapsed_s: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestReport:
    sources: tuple[SourceReport, ...]
    started_at: datetime
    elapsed_s: float

    def total(self, name: SourceCounter) -> int:
        """Sum of one counter over the sources."""
        return sum(getattr(report, name) for report in self.sources)

    def source(self, name: str) -> SourceReport:
        return next(report for report in self.sources if report.name == name)

    def summary(self) -> str:
        """One line for progress displays and flow logs."""
        return (
            f"{len(self.sources)} sources: {self.total('fetched')} fetched, {self.total('produced')} produced, "
            f"{self.total('unchanged')} unchanged, {self.total('dead_lettered')} dead-lettered, "
            f"{self.total('skipped_links')} unsafe links skipped, {self.total('errors')} errors"
        )


@dataclass(frozen=True)
class IngestOutcome:
    """A run's report as an unattended run publishes it: one table row per source, with the first
    failure of each failed source (from `source_runs`, as `radar status` shows it)."""

    summary: str
    rows: tuple[dict[str, object], ...]
    failed: tuple[str, ...]
    errors: dict[str, str]

    @classmethod
    def of(cls, report: IngestReport, store: Store) -> IngestOutcome:
        # A "not modified" (304) run saw the document the failed run before it saw: `source_runs`
        # repeats that verdict (record_source_run), and so does the outcome, or a broken feed
        # would fail one run and pass every later one.
        # One read of `source_runs` for both: the first failures and the repeated verdicts.
        errors = last_errors(store, [s.name for s in report.sources if s.errors or s.not_modified])
        failed = tuple(s.name for s in report.sources if s.errors or (s.not_modified and s.name in errors))
        errors = {name: errors[name] for name in failed if name in errors}
        rows = tuple(
            {
                "source": s.name,
                "kind": s.kind,
                "outcome": "failed" if s.name in failed else "ok",
                "fetched": s.fetched,
                "produced": s.produced,
                "unchanged": s.unchanged,
                "dead_lettered": s.dead_lettered,
                "errors": s.errors,
                "not_modified": s.not_modified,
                "seconds": round(s.elapsed_s, 2),
                "first_failure": errors.get(s.name, ""),
            }
            for s in report.sources
        )
        return cls(summary=report.summary(), rows=rows, failed=failed, errors=errors)

    @property
    def description(self) -> str:
        return f"ingest: {self.summary}" + (f"; FAILED: {', '.join(self.failed)}" if self.failed else "")

    def failure_of(self, name: str) -> str:
        """What the run log says about one failed source."""
        return self.errors.get(name) or "see the dead letters above"

    def failure_message(self) -> str | None:
        """The run's failure message (the sources and their first failure), None when none failed."""
        if not self.failed:
            return None
        listed = "; ".join(f"{name} ({self.errors.get(name) or 'failed'})" for name in self.failed)
        return f"{len(self.failed)} of {len(self.rows)} sources failed: {listed}"


def nothing_to_ingest(groups: Sequence[str] | None, exclude_groups: Sequence[str] | None) -> str:
    """Why a run whose groups hold no enabled source fetches nothing (a log line, not a failure)."""
    wanted = ", ".join(groups or []) or "all groups"
    without = f" except {', '.join(exclude_groups)}" if exclude_groups else ""
    return f"no enabled sources in {wanted}{without}: nothing to ingest"


@dataclass(frozen=True)
class IngestProgress:
    """Told to the `progress` callback when a source starts ("start") and ends ("done").

    Always called from the thread that called `run_ingest`, in the order things happened:
    with sources running concurrently, "done" events come in finishing order. `index` is the
    source's position in the configured order, `finished` how many sources have ended so far
    (this one included on "done").
    """

    phase: Literal["start", "done"]
    index: int
    total: int
    source: SourceConfig
    report: SourceReport | None = None
    finished: int = 0


@dataclass(frozen=True)
class SourceCheck:
    name: str
    kind: str
    ok: bool
    detail: str
    status: int | None = None
    items: int | None = None
    elapsed_s: float = 0.0
    warnings: tuple[str, ...] = field(default_factory=tuple)


def select_sources(
    settings: Settings,
    source_names: Iterable[str] | None = None,
    groups: Iterable[str] | None = None,
    exclude_groups: Iterable[str] | None = None,
) -> list[SourceConfig]:
    """The sources one run takes, in configured order.

    - neither names nor groups: every enabled source;
    - names and/or groups: exactly the named sources (enabled or not: naming one is asking for
      it) plus the enabled sources of the named groups;
    - then the sources of `exclude_groups` are left out (the 15-minute schedule takes
      "everything but x and arxiv", so a group of one's own is never left unpolled).
    ConfigError for an unknown source name or group. The kind-derived groups ("feeds", "x",
    "arxiv") always exist, so a deployment of a group this config has no source in runs nothing
    rather than failing every few minutes.
    """
    names = list(dict.fromkeys(source_names or []))
    wanted_groups = list(dict.fromkeys(groups or []))
    excluded = set(exclude_groups or [])
    known = set(DEFAULT_GROUPS.values()) | {source.group for source in settings.sources}
    unknown = [group for group in [*wanted_groups, *excluded] if group not in known]
    if unknown:
        raise ConfigError(f"no source group {unknown[0]!r} (known: {', '.join(sorted(known))})")
    if not names and not wanted_groups:
        chosen = [source for source in settings.sources if source.enabled]
    elif not wanted_groups:
        chosen = [settings.source(name) for name in names]  # in the order asked for, as before groups
    else:
        named = {settings.source(name).name for name in names}  # ConfigError for an unknown name
        chosen = [
            source
            for source in settings.sources
            if source.name in named or (source.enabled and source.group in wanted_groups)
        ]
    return [source for source in chosen if source.group not in excluded]


def _collectors(arxiv_interval_s: float, x_limiter: XRateLimiter, max_query_length: int) -> dict[str, Collector]:
    return {
        "feed": collect_feed,
        "html": collect_html,
        # One limiter for every X source of the cycle: X's limits are per endpoint and token.
        "x": functools.partial(collect_x, limiter=x_limiter, max_query_length=max_query_length),
        "arxiv": functools.partial(collect_arxiv, interval_s=arxiv_interval_s),
        "jsonl": collect_jsonl,
    }


def _arxiv_interval(settings: Settings, override: float | None) -> float:
    if override is not None:
        return override
    return settings.fetch.arxiv_interval_s


def run_ingest(
    settings: Settings,
    *,
    source_names: Iterable[str] | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
    arxiv_interval_s: float | None = None,
    groups: Iterable[str] | None = None,
    exclude_groups: Iterable[str] | None = None,
    x_limiter: XRateLimiter | None = None,
    session: KafkaSession | None = None,
) -> IngestReport:
    """Run every enabled source (or those `select_sources` picks) once; see the module docstring.

    `x_limiter`: the X rate limiter of this cycle (tests pass one on a fake clock); by default a
    fresh one bounded by `[fetch] max_rate_limit_wait_s`. `session`: the command's Kafka session
    (opened here when not given).

    Raises ConfigError for an unknown source name, and the broker's/Kafka's own
    errors when Kafka cannot be reached; a failing *source* never raises: its
    failure is counted and dead-lettered and the other sources run. When a delivery
    fails (Kafka gone), no further source starts, those running finish, and the
    first error is raised.
    """
    sources = select_sources(settings, source_names, groups, exclude_groups)
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    # A broker started here keeps running: `radar ingest` is followed by `radar process`.
    session = session or KafkaSession.open(settings)
    bootstrap, store = session.bootstrap, session.store
    arxiv_interval = _arxiv_interval(settings, arxiv_interval_s)
    if x_limiter is None:
        x_limiter = XRateLimiter(settings.fetch.max_rate_limit_wait_s, settings.fetch.backoff_s)
    collectors = _collectors(arxiv_interval, x_limiter, settings.x.max_query_length)
    producer = make_producer(bootstrap, settings.kafka)
    loaded = CursorStore(store).load_many([s.name for s in sources])
    try:
        with Fetcher(settings.fetch) as fetcher:
            _space_arxiv_hosts(fetcher, sources, arxiv_interval)
            shared = _Shared(settings, store, producer, fetcher, collectors)
            reports = _run_all(sources, loaded, shared, progress)
    finally:
        close_producer(producer, timeout_s=min(10.0, settings.kafka.ack_timeout_s))
    return IngestReport(tuple(reports), started_at, time.monotonic() - t0)


@dataclass
class _Shared:
    """What every worker uses. Fetcher and producer are thread-safe themselves; the store and
    the page cache are guarded by the locks here."""

    settings: Settings
    store: Store
    producer: KafkaProducer
    fetcher: Fetcher
    collectors: dict[str, Collector]
    # url -> page key for pages of sources already acknowledged (see SourceRun.page_cache).
    page_cache: dict[str, str | None] = field(default_factory=dict)
    cache_lock: threading.Lock = field(default_factory=threading.Lock)
    committer: _GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        self.committer = _GroupCommit(self.store)


@dataclass
class _Commit:
    run: SourceRun
    done: bool = False
    error: BaseException | None = None


class _GroupCommit:
    """Cursor commits of concurrent sources, several per DuckDB transaction.

    DuckDB allows one writer and `Store.write()` opens the file per call (~30 ms with its
    checkpoint on close), so one transaction per source would serialise 1,000 sources into
    half a minute. Each worker queues its (already acknowledged) source and takes the lock;
    whoever holds it commits everything queued so far in one transaction, and the others find
    their source done when their turn comes. A source still waits for its own commit before it
    reports done, and a failed transaction fails every source in it (none is half-written).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()  # the one DuckDB writer of this process
        self._pending: list[_Commit] = []

    def commit(self, run: SourceRun) -> None:
        mine = _Commit(run)
        with self._queue_lock:
            self._pending.append(mine)
        with self._write_lock:
            if not mine.done:
                with self._queue_lock:
                    batch, self._pending = self._pending, []
                try:
                    self._write(batch)
                except BaseException as exc:
                    for item in batch:
                        item.error = exc
                    raise
                finally:
                    for item in batch:
                        item.done = True
        if mine.error is not None:
            raise mine.error

    def _write(self, batch: list[_Commit]) -> None:
        # Always taken, even for an unchanged source: `radar status` shows when each source last worked.
        with self._store.write() as con:
            for item in batch:
                run = item.run
                CursorStore.write(con, run.update)
                record_dead_letters(con, run.dead_letters)
                record_source_run(
                    con,
                    run.source.name,
                    ok=run.errors == 0,
                    produced=run.produced,
                    error=first_failure(run.dead_letters),
                    not_modified=run.not_modified,
                )


# What a worker tells the calling thread: (configured index, phase, report or exception).
_Event = tuple[int, Literal["start", "done", "failed", "skipped"], SourceReport | BaseException | None]


def _run_all(
    sources: list[SourceConfig],
    loaded: dict[str, SourceCursor],
    shared: _Shared,
    progress: Callable[[IngestProgress], None] | None,
) -> list[SourceReport]:
    """Run the sources on a bounded thread pool; reports in configured order."""
    total = len(sources)
    if total == 0:
        return []
    workers = min(shared.settings.fetch.max_concurrency, total)
    events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
    stop = threading.Event()

    def work(index: int) -> None:
        if stop.is_set():
            events.put((index, "skipped", None))
            return
        events.put((index, "start", None))
        source = sources[index]
        try:
            run = SourceRun(source, shared.fetcher, shared.settings.fetch, loaded[source.name], shared.page_cache)
            events.put((index, "done", _run_source(run, shared)))
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
            events.put((index, "failed", exc))

    reports: list[SourceReport | None] = [None] * total
    error: BaseException | None = None
    finished = 0
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest")
    try:
        # With one worker the configured order is kept: that is the sequential baseline.
        for index in _interleave_hosts(sources) if workers > 1 else range(total):
            pool.submit(work, index)
        outstanding = total
        while outstanding:
            index, phase, payload = events.get()
            if phase == "start":
                if progress:
                    progress(IngestProgress("start", index, total, sources[index], finished=finished))
                continue
            outstanding -= 1
            if phase == "done":
                assert isinstance(payload, SourceReport)
                reports[index] = payload
                finished += 1
                if progress:
                    progress(IngestProgress("done", index, total, sources[index], payload, finished))
            elif phase == "failed":
                assert isinstance(payload, BaseException)
                error = error or payload
                stop.set()  # queued sources return at once; running ones finish their work
    except BaseException:
        stop.set()  # Ctrl-C or a progress callback failing: start nothing more
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if error is not None:
        raise error
    return [report for report in reports if report is not None]


def _interleave_hosts(sources: list[SourceConfig]) -> list[int]:
    """Configured indexes, round-robin over hosts.

    A worker waiting for its host's interval holds its pool slot, so workers are started on
    different hosts first rather than piling up behind one; within a host the configured
    order is kept.
    """
    by_host: dict[str, list[int]] = {}
    for index, source in enumerate(sources):
        host = urlsplit(source.url).hostname or f"#{index}"  # file:// sources: each on its own
        by_host.setdefault(host, []).append(index)
    rounds = itertools.zip_longest(*by_host.values())
    return [index for round_ in rounds for index in round_ if index is not None]


def _space_arxiv_hosts(fetcher: Fetcher, sources: list[SourceConfig], interval_s: float) -> None:
    """arXiv's one request per `interval_s` binds the host, not each source: concurrent arXiv
    sources would otherwise each keep their own gap and together exceed it."""
    for source in sources:
        host = urlsplit(source.url).hostname
        if source.kind == "arxiv" and host:
            fetcher.set_host_interval(host, interval_s)


def _run_source(run: SourceRun, shared: _Shared) -> SourceReport:
    t0 = time.monotonic()
    source = run.source
    try:
        shared.collectors[source.kind](run)
    except Exception as exc:  # noqa: BLE001 - one broken source must not stop the others
        log.exception("source %s failed", source.name)
        run.errors += 1
        run.dead_letter("fetch", f"connector failed: {type(exc).__name__}: {exc}", error=exc)
        # What was collected is still delivered, but validators and since_id are not
        # advanced: the next run must look at this source again.
        run.update.etag = run.update.last_modified = run.update.since_id = None
        run.update.since_ids.clear()
    _deliver(shared.producer, shared.settings, run)
    crash_point("ingest-after-produce")
    # One short transaction (shared with sources finishing at the same moment), and only after
    # every acknowledgement of this source came back.
    shared.committer.commit(run)
    with shared.cache_lock:
        # Only now may other sources skip these pages: their envelopes are acknowledged.
        shared.page_cache.update(run.own_pages)
    return SourceReport(
        name=source.name,
        kind=source.kind,
        fetched=run.fetched,
        produced=run.produced,
        unchanged=run.unchanged,
        dead_lettered=len(run.dead_letters),
        skipped_links=run.skipped_links,
        errors=run.errors,
        requests=run.requests,
        not_modified=run.not_modified,
        elapsed_s=time.monotonic() - t0,
        notes=tuple(run.notes),
    )


def _deliver(producer: KafkaProducer, settings: Settings, run: SourceRun) -> None:
    """Send and wait for every acknowledgement; raises (cursor untouched) if any fails."""
    wait_s = settings.kafka.ack_timeout_s
    try:
        futures = [
            producer.send(settings.kafka.raw_topic, key=envelope.key.encode("utf-8"), value=dump_envelope(envelope))
            for envelope in run.envelopes
        ]
        producer.flush(timeout=wait_s)
        for future in futures:
            future.get(timeout=wait_s)
    except KafkaTimeoutError:
        raise KafkaTimeoutError(
            f"Kafka did not acknowledge the {len(run.envelopes)} envelope(s) of source {run.source.name!r}"
            f" within {wait_s:.0f} s (broker unreachable?); its cursor was not moved, the next run sends them again"
        ) from None
    if run.dead_letters:
        DeadLetterProducer(producer, settings.kafka.dlq_topic).send(run.dead_letters)


# --------------------------------------------------------------------------- check


def check_sources(
    settings: Settings,
    source_names: Iterable[str] | None = None,
    progress: Callable[[SourceCheck, int, int], None] | None = None,
    groups: Iterable[str] | None = None,
) -> list[SourceCheck]:
    """Validate each source and reach it once (first page only, no links, nothing produced).

    `progress(check, done, total)` is told after each source, for a line per source as it ends.
    """
    checks = []
    selected = select_sources(settings, source_names, groups)
    with Fetcher(settings.fetch) as fetcher:
        for source in selected:
            checks.append(_check_one(source, settings, fetcher))
            if progress is not None:
                progress(checks[-1], len(checks), len(selected))
    return checks


def _check_one(source: SourceConfig, settings: Settings, fetcher: Fetcher) -> SourceCheck:
    t0 = time.monotonic()
    warnings: list[str] = []
    if source.kind == "x" and source.token_env and token_from_env(source.token_env) is None:
        warnings.append(f"env var {source.token_env} is not set: requests go without a bearer token")
    if not source.url.startswith("file://"):
        try:
            check_url_syntax(source.url)
        except FetchError as exc:
            return SourceCheck(source.name, source.kind, False, f"invalid url: {exc.detail}")
    run = SourceRun(source, fetcher, settings.fetch, SourceCursor(source.name), {})
    token = token_from_env(source.token_env) if source.kind == "x" else None
    headers = {"Authorization": f"Bearer {token}"} if token else None
    url, packed_note = source.url, ""
    if source.kind == "x" and source.accounts:
        # The endpoint alone has no query: check with the first packed one (also proves they fit).
        try:
            packed = pack_queries(source.accounts, settings.x.max_query_length, source.query_filter)
        except ValueError as exc:
            return SourceCheck(source.name, source.kind, False, f"invalid query: {exc}")
        url = with_query(url, query=packed[0].query)
        packed_note = f" ({len(source.accounts)} accounts in {len(packed)} queries; the first checked)"
    try:
        result = run.fetch(url, trusted=source.local, extra_headers=headers, dead_letter_errors=False)
    except FetchError as exc:
        return SourceCheck(
            source.name,
            source.kind,
            False,
            describe_fetch_error(exc),
            exc.status,
            elapsed_s=time.monotonic() - t0,
            warnings=tuple(warnings),
        )
    assert result is not None
    content_type = result.headers.get("content-type")
    ok, items, detail = True, None, "reachable"
    try:
        if result.status == 429:
            ok, detail = False, "rate limited (HTTP 429)"
        elif source.kind == "feed":
            document = parse_feed(result.body, content_type=content_type, url=result.final_url)
            items = len(document.entries)
            detail = f"{items} entries" + (" (salvaged from a broken feed)" if document.salvaged else "")
        elif source.kind == "html":
            from connectors.encoding import decode_text

            text = decode_text(result.body, content_type=content_type, kind="html", url=result.final_url).text
            parsed = parse_page(text, url=result.final_url)
            # The page's key is what ingest stores it under: the check shows that, not the title
            # (which normalize reads, see connectors/html.ParsedPage).
            items, detail = 1, f"page {parsed.canonical_url or parsed.og_url or result.final_url}, {len(text):,} chars"
        elif source.kind == "x":
            items = len(parse_x_page(result.body)["data"])
            detail = f"{items} posts on the first page{packed_note}"
        elif source.kind == "arxiv":
            items = len(parse_arxiv_page(result.body, content_type=content_type, url=result.final_url).entries)
            detail = f"{items} papers on the first page"
        elif source.kind == "jsonl":
            lines = [line for line in result.body.split(b"\n") if line.strip()]
            bad = 0
            for line in lines:
                try:
                    parse_jsonl_line(line)
                except EnvelopeError:
                    bad += 1
            items, detail = len(lines) - bad, f"{len(lines) - bad} envelopes, {bad} bad line(s)"
            ok = bad == 0
    except (FeedParseError, XPageError, FetchError) as exc:
        ok, detail = False, str(exc)
    return SourceCheck(
        source.name, source.kind, ok, detail, result.status, items, time.monotonic() - t0, tuple(warnings)
    )
