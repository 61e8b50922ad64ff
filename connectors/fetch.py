"""The one HTTP client every connector uses (DESIGN.md §5 "Input hardening").

Built on `http.client` with our own socket connect so that the address actually
connected to is checked before a single request byte is sent, on every redirect
hop. Everything else — size caps, streaming decompression, deadlines, retries,
politeness and robots.txt — follows `FetchSettings`.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

import brotli
from protego import Protego

from infra.config import FetchSettings
from infra.urlsafety import (
    FetchError,
    FetchReason,
    ParsedTarget,
    check_url_syntax,
    is_public_address,
    same_origin,
)

__all__ = ["FetchError", "FetchReason", "FetchResult", "Fetcher"]

logger = logging.getLogger(__name__)

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 64 * 1024
# Decompressed output is produced in pieces this size so a bomb is noticed after
# at most one piece past the cap, whatever the compression ratio.
_DECODE_PIECE = 64 * 1024
# More stacked codings than this is never legitimate and each stage keeps its own
# window (~32 KiB zlib, up to 16 MiB brotli), so the count itself must be bounded.
_MAX_CODINGS = 3
# Headers that carry credentials; dropped when a redirect leaves the origin.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class FetchResult:
    requested_url: str
    final_url: str
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes  # Content-Encoding removed, within max_decompressed_bytes
    peer_ip: str | None
    redirects: tuple[str, ...]
    not_modified: bool
    elapsed_s: float


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes
    peer_ip: str | None


# --------------------------------------------------------------------------- decoding


class _Decoder(Protocol):
    def feed(self, data: bytes, piece: int) -> Iterator[bytes]: ...
    def finish(self, piece: int) -> Iterator[bytes]: ...


class _ZlibDecoder:
    """gzip / deflate with bounded output per call (`decompress(data, max_length)`)."""

    _GZIP_MAGIC = b"\x1f\x8b"

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._pending = b""  # bytes held back until we can tell what they start
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS) if coding == "gzip" else None

    def feed(self, data: bytes, piece: int) -> Iterator[bytes]:
        data, self._pending = self._pending + data, b""
        if self._obj is None:
            # "deflate" is meant to be zlib-wrapped (RFC 9110 §8.4.1.2) but servers
            # send raw deflate too; the two-byte zlib header tells them apart.
            if len(data) < 2:
                self._pending = data
                return
            is_zlib = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if is_zlib else -zlib.MAX_WBITS)
        while True:
            if self._obj.eof:
                # Concatenated gzip members are one body (RFC 1952 §2.2); other
                # trailing bytes are ignored, as browsers do.
                if self._coding == "gzip" and len(data) < 2 and self._GZIP_MAGIC.startswith(data):
                    self._pending = data
                    return
                if self._coding != "gzip" or not data.startswith(self._GZIP_MAGIC):
                    return
                self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out = self._obj.decompress(data, piece)
            except zlib.error as exc:
                raise _CodingError(f"corrupt {self._coding} body ({exc})") from None
            if out:
                yield out
            if self._obj.eof:
                data = self._obj.unused_data
                continue
            data = self._obj.unconsumed_tail
            # A full output buffer may leave output for already-consumed input inside
            # zlib, so call again (with b"") until a call comes back short.
            if not data and len(out) < piece:
                return

    def finish(self, piece: int) -> Iterator[bytes]:
        if self._obj is None or not self._obj.eof:
            raise _CodingError(f"truncated {self._coding} body")
        yield from ()


class _BrotliDecoder:
    """brotli >= 1.2 bounds output per call with `output_buffer_limit`."""

    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes, piece: int) -> Iterator[bytes]:
        if self._obj.is_finished():
            return
        try:
            out = self._obj.process(data, output_buffer_limit=piece)
            # can_accept_more_data() turns True once the input is buffered, while
            # output may still be pending; drain with empty input until none comes.
            while out:
                yield out
                out = self._obj.process(b"", output_buffer_limit=piece)
        except brotli.error as exc:
            raise _CodingError(f"corrupt br body ({exc})") from None

    def finish(self, piece: int) -> Iterator[bytes]:
        if not self._obj.is_finished():
            raise _CodingError("truncated br body")
        yield from ()


class _CodingError(Exception):
    pass


class _TooLarge(Exception):
    pass


def _parse_codings(header: str | None) -> list[str]:
    if not header:
        return []
    codings = []
    for token in header.split(","):
        name = token.strip().lower()
        if name in ("", "identity"):
            continue
        if name == "x-gzip":
            name = "gzip"
        if name not in ("gzip", "deflate", "br"):
            raise _CodingError(f"unsupported Content-Encoding {name!r}")
        codings.append(name)
    if len(codings) > _MAX_CODINGS:
        raise _CodingError(f"{len(codings)} stacked Content-Encodings")
    return codings


class _BodyDecoder:
    """Undo Content-Encoding incrementally, capping every stage's total output."""

    def __init__(self, codings: list[str], limit: int) -> None:
        # Codings are listed in the order they were applied (RFC 9110 §8.4); undo
        # them last-first.
        self._stages: list[_Decoder] = [_BrotliDecoder() if c == "br" else _ZlibDecoder(c) for c in reversed(codings)]
        self._produced = [0] * len(self._stages)
        self._limit = limit
        self._out = bytearray()

    def _push(self, index: int, data: bytes) -> None:
        if index == len(self._stages):
            if len(self._out) + len(data) > self._limit:
                raise _TooLarge(f"decoded body exceeds {self._limit} bytes")
            self._out += data
            return
        for piece in self._stages[index].feed(data, _DECODE_PIECE):
            self._emit(index, piece)

    def _emit(self, index: int, piece: bytes) -> None:
        self._produced[index] += len(piece)
        if self._produced[index] > self._limit:
            raise _TooLarge(f"decoded body exceeds {self._limit} bytes")
        self._push(index + 1, piece)

    def feed(self, data: bytes) -> None:
        self._push(0, data)

    def finish(self) -> bytes:
        # Outermost stage first: whatever it still flushes reaches the inner stages
        # before they are asked whether their stream is complete.
        for index, stage in enumerate(self._stages):
            for piece in stage.finish(_DECODE_PIECE):
                self._emit(index, piece)
        return bytes(self._out)


# --------------------------------------------------------------------------- sockets


class _Deadline:
    """Per-request wall-clock deadline, enforced even against slow-drip servers."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            self.fired = True
            raise TimeoutError("deadline passed")
        return left

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                self._shutdown()

    def _fire(self) -> None:
        # A per-operation socket timeout does not stop a server that sends one byte
        # every few seconds; shutting the socket down unblocks any pending recv.
        with self._lock:
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            # The plain-socket method, so an SSL wrapper's state is not touched from
            # this thread; an already closed socket needs nothing.
            with suppress(OSError):
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


class _GuardedHTTPConnection(http.client.HTTPConnection):
    """`connect()` delegates to the fetcher, which chooses and vets the peer."""

    open_socket: Callable[[], socket.socket]

    def connect(self) -> None:
        self.sock = self.open_socket()


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    open_socket: Callable[[], socket.socket]
    _context: ssl.SSLContext

    def connect(self) -> None:
        self.sock = self._context.wrap_socket(self.open_socket(), server_hostname=self.host)


# --------------------------------------------------------------------------- politeness


@dataclass
class _HostGate:
    slots: threading.BoundedSemaphore
    next_start: float = float("-inf")


# RFC 9309 rules for "robots.txt unavailable" (no restrictions) and "unreachable" (disallow all).
_ALLOW_ALL = Protego.parse("")
_DISALLOW_ALL = Protego.parse("User-agent: *\nDisallow: /\n")


@dataclass
class _RobotsEntry:
    # Protego applies RFC 9309's longest match (Allow /news/ beats Disallow /); the standard
    # library's robotparser takes the first rule that matches in file order.
    parser: Protego
    fetched_at: float


# --------------------------------------------------------------------------- fetcher


class Fetcher:
    """Safe, polite HTTP GET for connectors. Thread-safe; one instance per process.

    `clock`/`sleep` drive politeness waits, retry backoff and the robots cache (so
    tests can assert them without real waiting); request deadlines always use real
    time because the socket does. `address_policy` decides which peer addresses an
    untrusted request may reach (tests inject one that admits loopback).

    Known limit: name resolution uses the system resolver, whose own timeouts apply
    before the request deadline starts to bite.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        address_policy: Callable[[str], bool] = is_public_address,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._address_policy = address_policy
        self._ssl_context = ssl_context  # built on first https use: loading CAs is slow
        self._lock = threading.Lock()
        self._gates: dict[str, _HostGate] = {}
        # Hosts whose terms ask for a longer gap than per_host_interval_s (arXiv: 3 s), held
        # here rather than in a connector so it binds every source on that host at once.
        self._host_intervals: dict[str, float] = {}
        self._robots: dict[tuple[str, str, int], _RobotsEntry] = {}
        self._closed = False

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        # No pooled connections to close (one connection per request keeps the peer
        # check simple); drop cached state so a closed fetcher cannot be reused.
        with self._lock:
            self._closed = True
            self._robots.clear()
            self._gates.clear()

    # ------------------------------------------------------------------ public API

    def set_host_interval(self, host: str, seconds: float) -> None:
        """Space requests to `host` at least `seconds` apart (never less than the configured interval)."""
        with self._lock:
            key = host.lower()
            self._host_intervals[key] = max(seconds, self._host_intervals.get(key, 0.0))

    def _interval(self, host: str) -> float:
        return max(self._settings.per_host_interval_s, self._host_intervals.get(host, 0.0))

    def fetch(
        self,
        url: str,
        *,
        trusted: bool = False,
        etag: str | None = None,
        last_modified: str | None = None,
        check_robots: bool = False,
        extra_headers: dict[str, str] | None = None,
    ) -> FetchResult:
        """GET `url`, following redirects, and return the decoded body.

        `trusted=True` is for a configured source URL: private and loopback peers
        are then allowed for that URL's own origin only. Returns a result for 2xx,
        304 (`not_modified=True`) and 429 (so the caller can honour rate-limit
        headers); raises FetchError for everything else.
        """
        if self._closed:
            raise RuntimeError("Fetcher is closed")
        started = time.monotonic()
        target = check_url_syntax(url)
        trusted_origin = target.origin if trusted else None
        headers = {
            "User-Agent": self._settings.user_agent,
            "Accept-Encoding": "gzip, deflate, br",
            "Accept": "*/*",
            "Connection": "close",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if extra_headers:
            headers.update(extra_headers)

        visited = {target.url}
        redirects: list[str] = []
        while True:
            if check_robots:
                self._enforce_robots(target, trusted_origin)
            response = self._request_with_retries(target, headers, trusted_origin)
            location = response.headers.get("location")
            if response.status in _REDIRECT_STATUSES and location:
                if len(redirects) >= self._settings.max_redirects:
                    raise FetchError("redirect-loop", url, f"more than {self._settings.max_redirects} redirects")
                next_target = check_url_syntax(urljoin(target.url, location))
                if next_target.url in visited:
                    raise FetchError("redirect-loop", url, f"redirect loop at {next_target.url}")
                if next_target.origin != target.origin:
                    headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
                visited.add(next_target.url)
                redirects.append(next_target.url)
                target = next_target
                continue
            break

        status = response.status
        if status == 304:
            not_modified = True
        elif 200 <= status < 300 or status == 429:
            not_modified = False
        else:
            raise FetchError("http-error", target.url, f"HTTP {status}", status=status, retryable=status >= 500)
        return FetchResult(
            requested_url=url,
            final_url=target.url,
            status=status,
            headers=response.headers,
            body=response.body,
            peer_ip=response.peer_ip,
            redirects=tuple(redirects),
            not_modified=not_modified,
            elapsed_s=time.monotonic() - started,
        )

    # ------------------------------------------------------------------ retries

    def _request_with_retries(
        self,
        target: ParsedTarget,
        headers: dict[str, str],
        trusted_origin: tuple[str, str, int] | None,
    ) -> _Response:
        attempts = self._settings.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._request_once(target, headers, trusted_origin)
            except FetchError as exc:
                if not exc.retryable or last:
                    raise
                logger.info("retrying %s after %s", target.url, exc.reason)
            else:
                if response.status < 500 or last:
                    return response
                logger.info("retrying %s after HTTP %d", target.url, response.status)
            self._sleep(self._settings.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # the loop returns or raises on the last attempt

    # ------------------------------------------------------------------ one request

    def _request_once(
        self,
        target: ParsedTarget,
        headers: dict[str, str],
        trusted_origin: tuple[str, str, int] | None,
    ) -> _Response:
        allow_any_peer = trusted_origin is not None and target.origin == trusted_origin
        with self._polite(target.host):
            deadline = _Deadline(self._settings.timeout_s)
            peer: list[str] = []
            conn: _GuardedHTTPConnection | _GuardedHTTPSConnection
            if target.scheme == "https":
                conn = _GuardedHTTPSConnection(
                    target.host, target.port, timeout=self._settings.timeout_s, context=self._tls_context()
                )
            else:
                conn = _GuardedHTTPConnection(target.host, target.port, timeout=self._settings.timeout_s)
            conn.open_socket = lambda: self._open_socket(target, deadline, allow_any_peer, peer)
            try:
                conn.request("GET", target.request_target, headers=headers)
                self._set_timeout(conn, deadline)
                raw = conn.getresponse()
                response_headers = _header_dict(raw)
                status = raw.status
                body = b""
                has_body = 200 <= status < 300 or status == 429
                if has_body:
                    body = self._read_body(raw, conn, target, deadline, response_headers)
                if deadline.fired:
                    raise TimeoutError("deadline passed")
            except FetchError:
                raise
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                raise self._classify(exc, target, deadline) from None
            finally:
                deadline.cancel()
                conn.close()
        logger.debug("GET %s -> %d (peer %s)", target.url, status, peer[0] if peer else None)
        return _Response(status, response_headers, body, peer[0] if peer else None)

    def _classify(self, exc: BaseException, target: ParsedTarget, deadline: _Deadline) -> FetchError:
        if deadline.fired or isinstance(exc, TimeoutError):
            return FetchError(
                "timeout",
                target.url,
                f"no complete response within {self._settings.timeout_s}s",
                retryable=True,
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return FetchError("connection", target.url, f"TLS verification failed ({exc.verify_message})")
        if isinstance(exc, socket.gaierror):
            return FetchError(
                "connection",
                target.url,
                f"cannot resolve host ({exc.strerror})",
                retryable=exc.errno == socket.EAI_AGAIN,
            )
        if isinstance(exc, OSError | http.client.IncompleteRead | http.client.RemoteDisconnected):
            return FetchError("connection", target.url, f"{type(exc).__name__}: {exc}", retryable=True)
        return FetchError("http-error", target.url, f"malformed response ({type(exc).__name__})")

    def _open_socket(
        self,
        target: ParsedTarget,
        deadline: _Deadline,
        allow_any_peer: bool,
        peer_out: list[str],
    ) -> socket.socket:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        candidates = [info for info in infos if allow_any_peer or self._address_policy(info[4][0])]
        if not candidates:
            addresses = sorted({str(info[4][0]) for info in infos})
            raise FetchError("unsafe-url", target.url, f"host resolves only to non-public addresses {addresses}")
        error: OSError | None = None
        for family, sock_type, proto, _canonname, sockaddr in candidates:
            sock = socket.socket(family, sock_type, proto)
            try:
                sock.settimeout(deadline.remaining())
                deadline.attach(sock)
                sock.connect(sockaddr)
                peer_ip = str(sock.getpeername()[0])
            except OSError as exc:
                sock.close()
                error = exc
                continue
            # The decisive check: the address really connected to, before any
            # request byte is written (DNS answers can change between lookups).
            if not allow_any_peer and not self._address_policy(peer_ip):
                sock.close()
                raise FetchError("unsafe-url", target.url, f"peer {peer_ip} is not a public address")
            peer_out.append(peer_ip)
            return sock
        assert error is not None
        raise error

    def _tls_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            return self._ssl_context

    @staticmethod
    def _set_timeout(conn: http.client.HTTPConnection, deadline: _Deadline) -> None:
        if conn.sock is not None:
            conn.sock.settimeout(deadline.remaining())

    def _read_body(
        self,
        raw: http.client.HTTPResponse,
        conn: http.client.HTTPConnection,
        target: ParsedTarget,
        deadline: _Deadline,
        headers: dict[str, str],
    ) -> bytes:
        max_bytes = self._settings.max_bytes
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchError("too-large", target.url, f"Content-Length {declared} exceeds {max_bytes} bytes")
        try:
            decoder = _BodyDecoder(
                _parse_codings(headers.get("content-encoding")), self._settings.max_decompressed_bytes
            )
            received = 0
            while True:
                self._set_timeout(conn, deadline)
                chunk = raw.read1(_READ_CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                if received > max_bytes:
                    raise FetchError("too-large", target.url, f"body exceeds {max_bytes} bytes")
                decoder.feed(chunk)
            if deadline.fired:
                raise TimeoutError("deadline passed")
            return decoder.finish()
        except _TooLarge as exc:
            raise FetchError("too-large", target.url, str(exc)) from None
        except _CodingError as exc:
            raise FetchError("bad-encoding", target.url, str(exc)) from None

    # ------------------------------------------------------------------ politeness

    @contextmanager
    def _polite(self, host: str) -> Iterator[None]:
        """Hold one of the host's slots, starting no sooner than its interval allows.

        Thread-safe: `ingest` runs many sources at once through one Fetcher, so all gate
        state is read and written under `self._lock`; the wait itself happens outside it,
        so a host that must wait never delays another host.
        """
        with self._lock:
            interval = self._interval(host)
            gate = self._gates.get(host)
            if gate is None:
                slots = threading.BoundedSemaphore(self._settings.per_host_concurrency)
                gate = self._gates[host] = _HostGate(slots)
        gate.slots.acquire()
        try:
            with self._lock:
                now = self._clock()
                start = max(now, gate.next_start)
                # Reserve the start slot under the lock so concurrent callers queue up
                # per_host_interval_s apart instead of all waking at once.
                gate.next_start = start + interval
            if start > now:
                self._sleep(start - now)
            yield
        finally:
            if self._settings.per_host_concurrency == 1:
                # One request at a time: count the interval from the end of this request, so
                # the gap the server sees between two requests is at least the interval even
                # when this one's connect was delayed (a busy process: thread scheduling)
                # and the next one's was not. Set before the slot is released, so the next
                # holder reads it.
                with self._lock:
                    gate.next_start = max(gate.next_start, self._clock() + interval)
            gate.slots.release()

    # ------------------------------------------------------------------ robots.txt

    def _enforce_robots(self, target: ParsedTarget, trusted_origin: tuple[str, str, int] | None) -> None:
        parser = self._robots_for(target, trusted_origin)
        if not parser.can_fetch(target.url, self._settings.user_agent):
            raise FetchError("robots-disallowed", target.url, "disallowed by robots.txt")

    def _robots_for(self, target: ParsedTarget, trusted_origin: tuple[str, str, int] | None) -> Protego:
        origin = target.origin
        with self._lock:
            entry = self._robots.get(origin)
            if entry is not None and self._clock() - entry.fetched_at < self._settings.robots_cache_s:
                return entry.parser
        # Fetched outside the lock: two threads may both fetch robots.txt for a new
        # origin once, which is cheaper than serialising every origin's first fetch.
        parser = self._load_robots(target, trusted_origin)
        with self._lock:
            self._robots[origin] = _RobotsEntry(parser, self._clock())
        return parser

    def _load_robots(self, target: ParsedTarget, trusted_origin: tuple[str, str, int] | None) -> Protego:
        robots_url = f"{target.scheme}://{target.netloc}/robots.txt"
        try:
            result = self.fetch(robots_url, trusted=trusted_origin == target.origin)
        except FetchError as exc:
            if exc.reason == "unsafe-url" and same_origin(exc.url, target.url):
                # The page's own host is unsafe: say so rather than "disallowed".
                raise FetchError("unsafe-url", target.url, exc.detail) from None
            if exc.status is not None and 400 <= exc.status < 500:
                # RFC 9309 §2.3.1.3: robots.txt "unavailable" means no restrictions.
                return _ALLOW_ALL
            # RFC 9309 §2.3.1.4: "unreachable" (5xx, network) means disallow all.
            logger.info("robots.txt for %s unreachable (%s); disallowing", target.netloc, exc.reason)
            return _DISALLOW_ALL
        if result.status == 429:
            # Rate limited is a server-side problem, treated like 5xx (as Google does).
            return _DISALLOW_ALL
        return Protego.parse(result.body.decode("utf-8", errors="replace"))


def _header_dict(raw: http.client.HTTPResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
