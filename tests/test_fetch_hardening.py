"""connectors.fetch against real, hostile HTTP servers on 127.0.0.1.

Every server here is on loopback, so the peer-address rule is exercised three ways:
an untrusted fetch of a loopback URL, a trusted fetch redirected to another origin,
and an `address_policy` that declares 127.0.0.1 public for the happy paths.
"""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import pytest

from connectors.fetch import Fetcher, FetchError
from connectors.sample_server import send_body as send
from infra.config import FetchSettings

Responder = Callable[["_Handler"], None]

MiB = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the second waits
    # for the client's delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True
    server: _Server

    def parse_request(self) -> bool:
        # Counted here, before routing, so "0 hits" means no request bytes arrived.
        self.server.record(self)
        return super().parse_request()

    def do_GET(self) -> None:
        responder = self.server.routes.get(self.path.split("?", 1)[0])
        if responder is None:
            send(self, 404, b"not found")
        else:
            responder(self)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Responder] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def record(self, handler: _Handler) -> None:
        with self._lock:
            self.requests.append((handler.raw_requestline.decode("latin-1").split(" ")[1], {}))

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if path is None or p.split("?")[0] == path)


@dataclass
class _Servers:
    started: list[_Server] = field(default_factory=list)

    def new(self) -> _Server:
        server = _Server()
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.started.append(server)
        return server


@pytest.fixture
def servers() -> Iterator[_Servers]:
    pool = _Servers()
    yield pool
    for server in pool.started:
        server.stop.set()  # releases handlers that are deliberately stalling
        server.shutdown()
        server.server_close()


@pytest.fixture
def server(servers: _Servers) -> _Server:
    return servers.new()


# ---------------------------------------------------------------- responders


def respond(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Responder:
    return lambda h: send(h, status, body, headers)


def redirect(location: str, status: int = 302) -> Responder:
    return respond(status, b"", {"Location": location})


def sequence(*responders: Responder) -> Responder:
    """Answer the n-th request with the n-th responder (the last one repeats)."""
    calls = iter(range(1_000_000))

    def responder(handler: _Handler) -> None:
        n = next(calls)
        responders[min(n, len(responders) - 1)](handler)

    return responder


def hang_up(handler: _Handler) -> None:
    handler.close_connection = True  # no status line at all: looks like a reset


def chunked(chunk: bytes, count: int) -> Responder:
    def responder(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            for _ in range(count):
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client hung up once it had enough, as it should

    return responder


def stall(seconds: float) -> Responder:
    def responder(handler: _Handler) -> None:
        handler.server.stop.wait(seconds)  # type: ignore[attr-defined]
        send(handler, 200, b"late")

    return responder


def drip(total: int, interval_s: float) -> Responder:
    """Send one byte every `interval_s`: each recv succeeds, the whole never ends."""

    def responder(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(total))
        handler.end_headers()
        try:
            for _ in range(total):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                if handler.server.stop.wait(interval_s):  # type: ignore[attr-defined]
                    return
        except OSError:
            pass

    return responder


def echo_headers(handler: _Handler) -> None:
    body = "\n".join(f"{k.lower()}: {v}" for k, v in handler.headers.items()).encode()
    send(handler, 200, body)


# ---------------------------------------------------------------- helpers


def settings(**overrides: object) -> FetchSettings:
    base: dict[str, object] = {
        "timeout_s": 2.0,
        "retries": 0,
        "backoff_s": 0.0,
        "per_host_interval_s": 0.0,
        "max_bytes": MiB,
        "max_decompressed_bytes": MiB,
    }
    base.update(overrides)
    return FetchSettings(**base)  # type: ignore[arg-type]


class FakeTime:
    """Injected clock/sleep: records waits and advances time instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def allow_all(_ip: str) -> bool:
    return True


def fetch_error(fetcher: Fetcher, url: str, **kwargs: object) -> FetchError:
    with pytest.raises(FetchError) as exc_info:
        fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]
    return exc_info.value


# ---------------------------------------------------------------- unsafe targets


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://2130706433:{port}/",
        "http://0x7f000001:{port}/",
        "http://017700000001:{port}/",
        "http://127.1:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://evil.example@127.0.0.1:{port}/",
    ],
    ids=["dotted", "localhost-name", "decimal", "hex", "octal", "short", "v4-mapped-v6", "userinfo"],
)
def test_untrusted_loopback_refused_before_any_request(server: _Server, template: str) -> None:
    server.routes["/"] = respond(200, b"secret")
    with Fetcher(settings()) as fetcher:
        error = fetch_error(fetcher, template.format(port=server.port))
    assert error.reason == "unsafe-url"
    assert server.hits() == 0


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_x",
        "http://169.254.169.254/latest/meta-data/",
        "http://0x7f000001/",
    ],
    ids=["file", "gopher", "metadata", "hex-loopback"],
)
def test_redirect_to_unsafe_target_refused(server: _Server, location: str) -> None:
    server.routes["/"] = redirect(location)
    with Fetcher(settings()) as fetcher:
        error = fetch_error(fetcher, server.url("/"), trusted=True)
    assert error.reason == "unsafe-url"
    assert server.hits() == 1


def test_trusted_origin_does_not_extend_to_redirect_target(servers: _Servers) -> None:
    source, internal = servers.new(), servers.new()
    internal.routes["/admin"] = respond(200, b"internal")
    source.routes["/feed"] = redirect(internal.url("/admin"))
    with Fetcher(settings()) as fetcher:
        error = fetch_error(fetcher, source.url("/feed"), trusted=True)
    assert error.reason == "unsafe-url"
    assert source.hits() == 1
    assert internal.hits() == 0


def test_trusted_origin_may_redirect_within_itself(server: _Server) -> None:
    server.routes["/old"] = redirect("/new", 301)
    server.routes["/new"] = respond(200, b"ok")
    with Fetcher(settings()) as fetcher:
        result = fetcher.fetch(server.url("/old"), trusted=True)
    assert (result.status, result.body, result.final_url) == (200, b"ok", server.url("/new"))
    assert result.redirects == (server.url("/new"),)


def test_peer_is_checked_after_connect_not_only_at_resolution(server: _Server) -> None:
    # Simulates DNS rebinding: the resolver's answer looks public, the connected
    # peer does not. Refusal must come before the request line is written.
    server.routes["/"] = respond(200, b"secret")
    verdicts = iter([True, False])
    with Fetcher(settings(), address_policy=lambda _ip: next(verdicts)) as fetcher:
        error = fetch_error(fetcher, server.url("/"))
    assert error.reason == "unsafe-url"
    assert "peer 127.0.0.1" in str(error)
    assert server.hits() == 0


def test_untrusted_fetch_follows_redirects_when_peers_are_public(servers: _Servers) -> None:
    first, second = servers.new(), servers.new()
    first.routes["/a"] = redirect(second.url("/b"), 307)
    second.routes["/b"] = redirect("/c", 308)
    second.routes["/c"] = respond(200, b"landed", {"X-Thing": "1"})
    with Fetcher(settings(), address_policy=allow_all) as fetcher:
        result = fetcher.fetch(first.url("/a"))
    assert result.body == b"landed"
    assert result.redirects == (second.url("/b"), second.url("/c"))
    assert result.final_url == second.url("/c")
    assert result.peer_ip == "127.0.0.1"
    assert result.headers["x-thing"] == "1"


def test_credentials_dropped_on_cross_origin_redirect(servers: _Servers) -> None:
    first, second = servers.new(), servers.new()
    first.routes["/same"] = redirect("/echo")
    first.routes["/echo"] = echo_headers
    first.routes["/cross"] = redirect(second.url("/echo"))
    second.routes["/echo"] = echo_headers
    token = {"Authorization": "Bearer s3cret-token"}
    with Fetcher(settings(), address_policy=allow_all) as fetcher:
        same = fetcher.fetch(first.url("/same"), extra_headers=token)
        cross = fetcher.fetch(first.url("/cross"), extra_headers=token)
    assert b"authorization: Bearer s3cret-token" in same.body
    assert b"authorization" not in cross.body


def test_error_message_never_contains_authorization(server: _Server) -> None:
    server.routes["/"] = respond(401, b"no")
    with Fetcher(settings()) as fetcher:
        error = fetch_error(fetcher, server.url("/"), trusted=True, extra_headers={"Authorization": "Bearer s3cret"})
    assert error.status == 401
    assert "s3cret" not in str(error) and "s3cret" not in repr(error.args)


# ---------------------------------------------------------------- redirects


def test_redirect_loop_detected(server: _Server) -> None:
    server.routes["/a"] = redirect("/b")
    server.routes["/b"] = redirect("/a")
    with Fetcher(settings(max_redirects=10)) as fetcher:
        error = fetch_error(fetcher, server.url("/a"), trusted=True)
    assert error.reason == "redirect-loop"
    assert server.hits() == 2


def test_too_many_redirects(server: _Server) -> None:
    for n in range(10):
        server.routes[f"/r{n}"] = redirect(f"/r{n + 1}")
    with Fetcher(settings(max_redirects=3)) as fetcher:
        error = fetch_error(fetcher, server.url("/r0"), trusted=True)
    assert error.reason == "redirect-loop"
    assert "more than 3 redirects" in str(error)
    assert server.hits() == 4


# ---------------------------------------------------------------- size caps


def test_content_length_over_cap_rejected_before_reading(server: _Server) -> None:
    server.routes["/"] = respond(200, b"x" * (64 * 1024 + 1))
    with Fetcher(settings(max_bytes=64 * 1024)) as fetcher:
        error = fetch_error(fetcher, server.url("/"), trusted=True)
    assert error.reason == "too-large"
    assert "Content-Length" in str(error)


def test_chunked_body_over_cap_rejected(server: _Server) -> None:
    server.routes["/"] = chunked(b"y" * 4096, 1000)  # 4 MB, no Content-Length
    with Fetcher(settings(max_bytes=64 * 1024)) as fetcher:
        error = fetch_error(fetcher, server.url("/"), trusted=True)
    assert error.reason == "too-large"


@dataclass(frozen=True)
class Bomb:
    coding: str
    body: bytes


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def _zlib_deflate(data: bytes) -> bytes:
    return zlib.compress(data, 9)


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _br(data: bytes) -> bytes:
    return brotli.compress(data, quality=5)


@pytest.fixture(scope="module")
def zeros_50mib() -> bytes:
    return bytes(50 * MiB)


BOMBS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", _gzip),
    "deflate-zlib": ("deflate", _zlib_deflate),
    "deflate-raw": ("deflate", _raw_deflate),
    "brotli": ("br", _br),
    "nested-gzip-gzip": ("gzip, gzip", lambda d: _gzip(_gzip(d))),
    "stacked-gzip-br": ("gzip, br", lambda d: _br(_gzip(d))),
}


@pytest.mark.parametrize("name", BOMBS.keys())
def test_decompression_bomb_rejected_with_bounded_memory(server: _Server, zeros_50mib: bytes, name: str) -> None:
    coding, compress = BOMBS[name]
    bomb = compress(zeros_50mib)
    assert len(bomb) < MiB  # passes the raw-size cap; only decoding can stop it
    server.routes["/"] = respond(200, bomb, {"Content-Encoding": coding})
    cap = MiB
    with Fetcher(settings(max_bytes=MiB, max_decompressed_bytes=cap)) as fetcher:
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            error = fetch_error(fetcher, server.url("/"), trusted=True)
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()
    assert error.reason == "too-large"
    assert peak < 2 * cap, f"peak {peak} bytes"


CODED_BODIES: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", _gzip),
    "x-gzip": ("x-gzip", _gzip),
    "deflate-zlib": ("deflate", _zlib_deflate),
    "deflate-raw": ("deflate", _raw_deflate),
    "br": ("br", _br),
    "stacked-gzip-br": ("gzip, br", lambda d: _br(_gzip(d))),
    "identity-and-gzip": ("identity, gzip", _gzip),
    "multi-member-gzip": ("gzip", lambda d: _gzip(d[:1000]) + _gzip(d[1000:])),
}


@pytest.mark.parametrize("name", CODED_BODIES.keys())
def test_content_encoding_decoded(server: _Server, name: str) -> None:
    coding, compress = CODED_BODIES[name]
    original = b"".join(b"<item>%d</item>\n" % n for n in range(20_000))  # ~330 KB
    server.routes["/"] = respond(200, compress(original), {"Content-Encoding": coding})
    with Fetcher(settings()) as fetcher:
        result = fetcher.fetch(server.url("/"), trusted=True)
    assert result.body == original


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", b"\x1f\x8bnot really gzip"),
        ("gzip", _gzip(b"a" * 10_000)[:-12]),
        ("br", b"\xff\xff\xff\xff not brotli"),
        ("compress", b"whatever"),
        ("gzip, gzip, gzip, gzip", _gzip(_gzip(_gzip(_gzip(b"x"))))),
    ],
    ids=["corrupt-gzip", "truncated-gzip", "corrupt-br", "unsupported-coding", "too-many-codings"],
)
def test_undecodable_content_encoding(server: _Server, coding: str, body: bytes) -> None:
    server.routes["/"] = respond(200, body, {"Content-Encoding": coding})
    with Fetcher(settings()) as fetcher:
        error = fetch_error(fetcher, server.url("/"), trusted=True)
    assert error.reason == "bad-encoding"


# ---------------------------------------------------------------- timeouts and retries


def test_stalled_server_times_out(server: _Server) -> None:
    server.routes["/"] = stall(60)
    started = time.monotonic()
    with Fetcher(settings(timeout_s=0.3)) as fetcher:
        error = fetch_error(fetcher, server.url("/"), trusted=True)
    assert error.reason == "timeout"
    assert time.monotonic() - started < 20  # the server would hold it 60 s: a 0.3-0.4 s deadline ends it


def test_slow_drip_hits_overall_deadline(server: _Server) -> None:
    # Each byte arrives well within the socket timeout; only a whole-request
    # deadline stops this.
    server.routes["/"] = drip(total=3000, interval_s=0.02)
    started = time.monotonic()
    with Fetcher(settings(timeout_s=0.4)) as fetcher:
        error = fetch_error(fetcher, server.url("/"), trusted=True)
    assert error.reason == "timeout"
    assert time.monotonic() - started < 20  # the server would hold it 60 s: a 0.3-0.4 s deadline ends it


def test_timeout_is_retried(server: _Server) -> None:
    server.routes["/"] = sequence(stall(10), respond(200, b"second time"))
    fake = FakeTime()
    with Fetcher(settings(timeout_s=0.3, retries=2, backoff_s=0.5), clock=fake.clock, sleep=fake.sleep) as fetcher:
        result = fetcher.fetch(server.url("/"), trusted=True)
    assert result.body == b"second time"
    assert fake.sleeps == [0.5]


def test_server_errors_retried_with_backoff_then_succeed(server: _Server) -> None:
    server.routes["/"] = sequence(respond(503), respond(500), respond(200, b"ok"))
    fake = FakeTime()
    with Fetcher(settings(retries=3, backoff_s=0.5), clock=fake.clock, sleep=fake.sleep) as fetcher:
        result = fetcher.fetch(server.url("/"), trusted=True)
    assert result.body == b"ok"
    assert server.hits() == 3
    assert fake.sleeps == [0.5, 1.0]


def test_server_errors_exhaust_retries(server: _Server) -> None:
    server.routes["/"] = respond(502)
    fake = FakeTime()
    with Fetcher(settings(retries=2, backoff_s=0.1), clock=fake.clock, sleep=fake.sleep) as fetcher:
        error = fetch_error(fetcher, server.url("/"), trusted=True)
    assert (error.reason, error.status) == ("http-error", 502)
    assert server.hits() == 3


def test_connection_reset_retried(server: _Server) -> None:
    server.routes["/"] = sequence(hang_up, respond(200, b"ok"))
    fake = FakeTime()
    with Fetcher(settings(retries=1), clock=fake.clock, sleep=fake.sleep) as fetcher:
        result = fetcher.fetch(server.url("/"), trusted=True)
    assert result.body == b"ok"
    assert server.hits() == 2


def test_client_error_not_retried(server: _Server) -> None:
    server.routes["/"] = respond(404)
    fake = FakeTime()
    with Fetcher(settings(retries=3), clock=fake.clock, sleep=fake.sleep) as fetcher:
        error = fetch_error(fetcher, server.url("/"), trusted=True)
    assert (error.reason, error.status) == ("http-error", 404)
    assert server.hits() == 1
    assert fake.sleeps == []


def test_rate_limited_response_returned_not_retried(server: _Server) -> None:
    server.routes["/"] = respond(429, b"slow down", {"x-rate-limit-reset": "1700000000"})
    with Fetcher(settings(retries=3)) as fetcher:
        result = fetcher.fetch(server.url("/"), trusted=True)
    assert result.status == 429
    assert result.headers["x-rate-limit-reset"] == "1700000000"
    assert server.hits() == 1


def test_not_modified(server: _Server) -> None:
    def conditional(handler: _Handler) -> None:
        if handler.headers.get("If-None-Match") == '"v1"' and handler.headers.get("If-Modified-Since"):
            send(handler, 304)
        else:
            send(handler, 200, b"fresh", {"ETag": '"v1"'})

    server.routes["/"] = conditional
    with Fetcher(settings()) as fetcher:
        first = fetcher.fetch(server.url("/"), trusted=True)
        second = fetcher.fetch(
            server.url("/"), trusted=True, etag=first.headers["etag"], last_modified="Sat, 01 Jan 2000 00:00:00 GMT"
        )
    assert (first.status, first.not_modified) == (200, False)
    assert (second.status, second.not_modified, second.body) == (304, True, b"")


# ---------------------------------------------------------------- robots.txt


def test_robots_disallow(server: _Server) -> None:
    server.routes["/robots.txt"] = respond(200, b"User-agent: *\nDisallow: /private\n")
    server.routes["/private/page"] = respond(200, b"hidden")
    server.routes["/public"] = respond(200, b"ok")
    with Fetcher(settings()) as fetcher:
        error = fetch_error(fetcher, server.url("/private/page"), trusted=True, check_robots=True)
        allowed = fetcher.fetch(server.url("/public"), trusted=True, check_robots=True)
    assert error.reason == "robots-disallowed"
    assert server.hits("/private/page") == 0
    assert allowed.body == b"ok"


def test_robots_for_our_user_agent(server: _Server) -> None:
    server.routes["/robots.txt"] = respond(200, b"User-agent: frontier-radar\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    server.routes["/page"] = respond(200, b"ok")
    with Fetcher(settings()) as fetcher:
        error = fetch_error(fetcher, server.url("/page"), trusted=True, check_robots=True)
    assert error.reason == "robots-disallowed"


def test_robots_404_allows_everything(server: _Server) -> None:
    server.routes["/page"] = respond(200, b"ok")
    with Fetcher(settings()) as fetcher:
        result = fetcher.fetch(server.url("/page"), trusted=True, check_robots=True)
    assert result.body == b"ok"
    assert server.hits("/robots.txt") == 1


def test_robots_500_disallows_everything(server: _Server) -> None:
    server.routes["/robots.txt"] = respond(500)
    server.routes["/page"] = respond(200, b"ok")
    with Fetcher(settings()) as fetcher:
        error = fetch_error(fetcher, server.url("/page"), trusted=True, check_robots=True)
    assert error.reason == "robots-disallowed"
    assert server.hits("/page") == 0


def test_robots_unreachable_disallows(server: _Server) -> None:
    server.routes["/robots.txt"] = stall(10)
    with Fetcher(settings(timeout_s=0.3)) as fetcher:
        error = fetch_error(fetcher, server.url("/page"), trusted=True, check_robots=True)
    assert error.reason == "robots-disallowed"


def test_robots_cached_then_refreshed(server: _Server) -> None:
    server.routes["/robots.txt"] = respond(200, b"User-agent: *\nDisallow: /x\n")
    server.routes["/page"] = respond(200, b"ok")
    fake = FakeTime()
    with Fetcher(settings(robots_cache_s=3600), clock=fake.clock, sleep=fake.sleep) as fetcher:
        for _ in range(4):
            fetcher.fetch(server.url("/page"), trusted=True, check_robots=True)
        assert server.hits("/robots.txt") == 1
        fake.now += 3601
        fetcher.fetch(server.url("/page"), trusted=True, check_robots=True)
    assert server.hits("/robots.txt") == 2


def test_robots_on_unsafe_host_reports_unsafe(server: _Server) -> None:
    with Fetcher(settings()) as fetcher:
        error = fetch_error(fetcher, server.url("/page"), check_robots=True)
    assert error.reason == "unsafe-url"
    assert server.hits() == 0


# ---------------------------------------------------------------- politeness


def test_per_host_interval_honoured(server: _Server) -> None:
    server.routes["/"] = respond(200, b"ok")
    fake = FakeTime()
    with Fetcher(settings(per_host_interval_s=1.5), clock=fake.clock, sleep=fake.sleep) as fetcher:
        for _ in range(3):
            fetcher.fetch(server.url("/"), trusted=True)
    assert fake.sleeps == [1.5, 1.5]


def test_per_host_interval_counts_elapsed_time(server: _Server) -> None:
    server.routes["/"] = respond(200, b"ok")
    fake = FakeTime()
    with Fetcher(settings(per_host_interval_s=1.5), clock=fake.clock, sleep=fake.sleep) as fetcher:
        fetcher.fetch(server.url("/"), trusted=True)
        fake.now += 1.0
        fetcher.fetch(server.url("/"), trusted=True)
        fake.now += 5.0
        fetcher.fetch(server.url("/"), trusted=True)
    assert fake.sleeps == [0.5]


@pytest.mark.parametrize("limit", [1, 2])
def test_per_host_concurrency_limit(server: _Server, limit: int) -> None:
    lock = threading.Lock()

    def slow(handler: _Handler) -> None:
        with lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        server.stop.wait(0.05)  # a slow server, so overlapping requests would show
        with lock:
            server.in_flight -= 1
        send(handler, 200, b"ok")

    server.routes["/"] = slow
    results: list[bytes] = []
    with Fetcher(settings(per_host_concurrency=limit)) as fetcher:
        threads = [
            threading.Thread(target=lambda: results.append(fetcher.fetch(server.url("/"), trusted=True).body))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
    assert results == [b"ok"] * 4
    assert server.max_in_flight <= limit


def test_robots_longest_match_wins(server: _Server) -> None:
    """RFC 9309 §2.2.2: the most specific rule decides, whatever its place in the file."""
    server.routes["/robots.txt"] = respond(200, b"User-agent: *\nDisallow: /\nAllow: /news/\n")
    server.routes["/news/today"] = respond(200, b"ok")
    server.routes["/archive"] = respond(200, b"old")
    with Fetcher(settings()) as fetcher:
        allowed = fetcher.fetch(server.url("/news/today"), trusted=True, check_robots=True)
        error = fetch_error(fetcher, server.url("/archive"), trusted=True, check_robots=True)
    assert allowed.body == b"ok"
    assert error.reason == "robots-disallowed"
    assert server.hits("/archive") == 0
