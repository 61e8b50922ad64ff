"""A real webhook receiver on 127.0.0.1 for tests: scripted statuses, every request kept and queued."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["HANG", "Received", "Receiver", "receiver"]

HANG = -1  # a scripted "status" that answers nothing until the test ends (a client timeout)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered (HANG: nothing)
    peer: tuple[str, int] = ("", 0)  # the client's address and port: one per TCP connection


class Receiver:
    def __init__(
        self,
        script: list[int] | None = None,
        default: int = 200,
        retry_after: str | None = None,
        keep_alive: bool = False,
        drop_after: bool = False,
    ) -> None:
        self.script = list(script or [])
        self.default = default
        self.retry_after = retry_after
        self.requests: list[Received] = []
        self.arrivals: queue.Queue[Received] = queue.Queue()
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keeps the connection open between requests, as most real receivers do.
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else receiver.default
                    got = Received(
                        self.path,
                        dict(self.headers.items()),
                        body,
                        status,
                        (self.client_address[0], self.client_address[1]),
                    )
                    receiver.requests.append(got)
                receiver.arrivals.put(got)
                if status == HANG:
                    receiver.release.wait()
                    return
                self.send_response(status)
                if receiver.retry_after is not None and status in (429, 503):
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                if drop_after:
                    # Closes without saying so (no `Connection: close`): what an idle timeout does
                    # to a kept connection, seen by the client only at its next request.
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def next(self, timeout_s: float = 30.0) -> Received:
        return self.arrivals.get(timeout=timeout_s)


@contextmanager
def receiver(
    script: list[int] | None = None,
    default: int = 200,
    retry_after: str | None = None,
    keep_alive: bool = False,
    drop_after: bool = False,
) -> Iterator[Receiver]:
    r = Receiver(script, default, retry_after, keep_alive, drop_after)
    r.thread.start()
    try:
        yield r
    finally:
        r.release.set()
        r.server.shutdown()
        r.server.server_close()
