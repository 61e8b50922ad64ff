"""Ingest runs sources concurrently (`[fetch] max_concurrency`) and stays polite per host.

Real HTTP servers on distinct loopback addresses (127.0.0.0/8 is all loopback) stand for
distinct hosts. Ordering is proven with hand-offs (threading.Event set from the progress
callback or a server handler), not with sleeps or wall-clock budgets.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.fetch import Fetcher
from connectors.ingest import IngestProgress, run_ingest
from connectors.sample_server import send_body
from infra.config import FetchSettings, Settings
from schemas.dead_letter import DeadLetter
from schemas.raw import RawPage, RawPost
from tests.connector_support import envelopes, source, with_sources

RSS = {"Content-Type": "application/rss+xml"}
HTML = {"Content-Type": "text/html"}
# Cap on any hand-off wait inside a server handler: only reached when the code under test is
# wrong (e.g. sequential), and then the assertions after it fail instead of the run hanging.
HANDOFF_CAP_S = 20.0
# Distinct loopback hosts per test module run, so two tests never share an address.
_next_ip = itertools.count(40)

Responder = Callable[[BaseHTTPRequestHandler], None]


def _rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def _item(guid: str, *, link: str | None = None, full: bool = True) -> str:
    content = (
        (
            f'<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            f"<![CDATA[<p>text of {guid}</p>]]></content:encoded>"
        )
        if full
        else ""
    )
    link_el = f"<link>{link}</link>" if link else ""
    return (
        f'<item><title>Title {guid}</title><guid isPermaLink="false">{guid}</guid>'
        f"<description>summary {guid}</description>{link_el}{content}</item>"
    )


def _page(title: str) -> bytes:
    return f'<html lang="en"><head><title>{title}</title></head><body><p>{title}</p></body></html>'.encode()


@dataclass
class Host:
    """One HTTP server on its own loopback address; records (path, arrival time) per request."""

    ip: str
    routes: dict[str, Responder]
    requests: list[tuple[str, float]] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def serve(routes: dict[str, Responder], ip: str | None = None) -> Iterator[Host]:
    host = Host(ip or f"127.0.0.{next(_next_ip)}", routes)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            return

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            path = self.path.split("?", 1)[0]
            with host.lock:
                host.requests.append((path, time.monotonic()))
            responder = host.routes.get(path)
            if responder is None:
                send_body(self, 404, b"not found", {"Content-Type": "text/plain"})
                return
            with suppress(OSError):  # the client gave up (timeout): nothing left to answer
                responder(self)

    httpd = ThreadingHTTPServer((host.ip, 0), Handler)
    httpd.daemon_threads = True
    host.base_url = f"http://{host.ip}:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        httpd.shutdown()
        httpd.server_close()


def answer(status: int, body: bytes, headers: dict[str, str]) -> Responder:
    return lambda handler: send_body(handler, status, body, headers)


def after(event: threading.Event, responder: Responder, entered: threading.Event | None = None) -> Responder:
    """Answer only once `event` is set (the hand-off), telling `entered` the request is held."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        if entered is not None:
            entered.set()
        event.wait(HANDOFF_CAP_S)
        responder(handler)

    return respond


def hang(entered: threading.Event, release: threading.Event) -> Responder:
    """Never answer: hold the request until the test ends (release) or the cap."""

    def respond(_handler: BaseHTTPRequestHandler) -> None:
        entered.set()
        release.wait(HANDOFF_CAP_S * 3)

    return respond


# --------------------------------------------------------------------------- slow and hanging hosts


def test_fast_hosts_finish_while_a_slow_and_a_hanging_host_hold_their_requests(settings: Settings, broker: str) -> None:
    hang_entered, release_hang = threading.Event(), threading.Event()
    slow_entered, fast_all_done = threading.Event(), threading.Event()
    fast_names = [f"fast-{i}" for i in range(3)]
    seen: list[tuple[str, str]] = []  # (phase, source) in the order the calling thread was told
    states_when_fast_done: dict[str, bool] = {}
    timeout_s = 4.0

    def on_progress(event: IngestProgress) -> None:
        seen.append((event.phase, event.source.name))
        done = {name for phase, name in seen if phase == "done"}
        if event.phase == "done" and set(fast_names) <= done and not fast_all_done.is_set():
            # Every fast source is acknowledged and committed ("done" comes after both): record
            # what the slow and hanging hosts were doing at this moment, then let the slow one answer.
            states_when_fast_done.update(
                hang_held=hang_entered.is_set() and "hanging" not in done,
                slow_held=slow_entered.is_set() and "slow" not in done,
            )
            fast_all_done.set()

    with ExitStack() as stack:
        hanging = stack.enter_context(serve({"/feed.xml": hang(hang_entered, release_hang)}))
        slow = stack.enter_context(
            serve({"/feed.xml": after(fast_all_done, answer(200, _rss(_item("slow-1")), RSS), entered=slow_entered)})
        )
        fast = []
        for i, name in enumerate(fast_names):
            host = stack.enter_context(serve({}))
            host.routes["/feed.xml"] = answer(
                200, _rss(_item(f"{name}-a"), _item(f"{name}-b", link=host.url(f"/p{i}.html"), full=False)), RSS
            )
            host.routes[f"/p{i}.html"] = answer(200, _page(f"page {i}"), HTML)
            fast.append(host)
        stack.callback(release_hang.set)  # let the held handler thread go before servers close
        # The slow and hanging sources come first: a sequential loop would wait for them.
        sources = [source("hanging", "feed", hanging.url("/feed.xml")), source("slow", "feed", slow.url("/feed.xml"))]
        sources += [source(name, "feed", host.url("/feed.xml")) for name, host in zip(fast_names, fast, strict=True)]
        configured = with_sources(settings, sources, timeout_s=timeout_s, max_concurrency=8)
        report = run_ingest(configured, progress=on_progress)

    assert states_when_fast_done == {"hang_held": True, "slow_held": True}, seen
    # The report keeps the configured order whatever the finishing order was.
    assert [r.name for r in report.sources] == ["hanging", "slow", *fast_names]
    for name in fast_names:
        assert (report.source(name).produced, report.source(name).errors) == (3, 0)  # 2 posts + 1 page
    assert (report.source("slow").produced, report.source("slow").errors) == (1, 0)
    hung = report.source("hanging")
    assert (hung.produced, hung.errors, hung.dead_lettered) == (0, 1, 1)
    assert hung.elapsed_s >= timeout_s  # it ended at its own timeout, not before

    posts = envelopes(broker, settings.kafka, settings.kafka.raw_topic)
    by_source = {name: sum(1 for e in posts if e.source.name == name) for name in [*fast_names, "slow", "hanging"]}
    assert by_source == {**dict.fromkeys(fast_names, 3), "slow": 1, "hanging": 0}
    assert sum(isinstance(e, RawPage) for e in posts) == 3 and sum(isinstance(e, RawPost) for e in posts) == 7
    letters = [d for d in envelopes(broker, settings.kafka, settings.kafka.dlq_topic) if isinstance(d, DeadLetter)]
    assert [(d.source_name, d.reason.split(":")[0]) for d in letters] == [("hanging", "timeout")]


# --------------------------------------------------------------------------- politeness under concurrency


class FakeTime:
    """Thread-safe injected clock: time moves only when the Fetcher sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(round(seconds, 6))
            self.now += seconds


def test_concurrent_fetches_of_one_host_are_spaced_by_the_interval() -> None:
    """Many threads on one host through one Fetcher: every request starts an interval after the last."""
    fake = FakeTime()
    at: list[float] = []  # fake time at which the server saw each request

    def record(handler: BaseHTTPRequestHandler) -> None:
        at.append(fake.clock())
        send_body(handler, 200, b"ok", {"Content-Type": "text/plain"})

    settings = FetchSettings(per_host_interval_s=1.5, retries=0, timeout_s=5)
    with serve({"/a": record, "/b": record}) as host, Fetcher(settings, clock=fake.clock, sleep=fake.sleep) as fetcher:
        threads = [
            threading.Thread(target=fetcher.fetch, args=(host.url(path),), kwargs={"trusted": True})
            for path in ["/a", "/b"] * 4
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert len(at) == 8
    assert [round(b - a, 6) for a, b in itertools.pairwise(sorted(at))] == [1.5] * 7


def test_two_sources_on_one_host_run_concurrently_and_never_closer_than_the_interval(settings: Settings) -> None:
    """Two sources on two ports of one address (one host to politeness), run at the same time."""
    interval = 0.2
    b_started = threading.Event()
    ip = f"127.0.0.{next(_next_ip)}"

    def on_progress(event: IngestProgress) -> None:
        if event.phase == "start" and event.source.name == "b":
            b_started.set()

    with serve({}, ip=ip) as a, serve({}, ip=ip) as b:
        for host, name in ((a, "a"), (b, "b")):
            items = [_item(f"{name}-{i}", link=host.url(f"/{name}{i}.html"), full=False) for i in range(2)]
            feed = answer(200, _rss(*items), RSS)
            # Source a's feed answers only once source b has started: proof the two run at once
            # (sequentially, b could not start before a had finished).
            host.routes["/feed.xml"] = after(b_started, feed) if name == "a" else feed
            for i in range(2):
                host.routes[f"/{name}{i}.html"] = answer(200, _page(f"{name} {i}"), HTML)
        configured = with_sources(
            settings,
            [source("a", "feed", a.url("/feed.xml")), source("b", "feed", b.url("/feed.xml"))],
            per_host_interval_s=interval,
            max_concurrency=4,
        )
        report = run_ingest(configured, progress=on_progress)
        arrivals = sorted(t for host in (a, b) for _path, t in host.requests)

    assert b_started.is_set()
    assert [r.produced for r in report.sources] == [4, 4] and report.total("errors") == 0
    # feed + robots.txt + 2 pages per source, all on one host
    assert len(arrivals) == 8
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # A lower bound the Fetcher guarantees (the next request starts an interval after the
    # previous one ended), so no scheduling delay can make it flaky.
    assert min(gaps) >= interval, gaps


@pytest.mark.parametrize("limit", [1, 3])
def test_report_in_configured_order_and_progress_as_sources_finish(settings: Settings, limit: int) -> None:
    """max_concurrency = 1 is today's sequential loop; any limit reports in configured order."""
    finished: list[int] = []
    with ExitStack() as stack:
        hosts = [stack.enter_context(serve({"/feed.xml": answer(200, _rss(_item(f"s{i}")), RSS)})) for i in range(5)]
        configured = with_sources(
            settings, [source(f"s{i}", "feed", h.url("/feed.xml")) for i, h in enumerate(hosts)], max_concurrency=limit
        )
        report = run_ingest(configured, progress=lambda e: finished.append(e.finished) if e.phase == "done" else None)
    assert [r.name for r in report.sources] == [f"s{i}" for i in range(5)]
    assert finished == [1, 2, 3, 4, 5]
    assert report.total("produced") == 5
