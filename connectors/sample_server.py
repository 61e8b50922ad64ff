"""Serve the bundled sample corpus on 127.0.0.1, for `radar demo` and the tests.

Routing (connectors/sample_corpus/README.md):
- `/feeds/...`, `/pages/...` and any other file under `site/` as is;
- `/x/<source>/search?...` -> `site/x/<source>/page-first.json`, or
  `page-<next_token>.json` when `next_token` is given; `since_id` is honoured the way
  the API does (only newer posts, no further pages);
- `/arxiv/query?...start=N...` -> `site/arxiv/page-N.xml` (an empty feed past the end);
- with `hostile=True`, every `served_as` of `hostile/cases.toml` (files, redirects,
  content encodings) — the body-less "generate" cases are added by tests with
  `add_route`.
`{base}` (and `{canary}` when given) are substituted in the bytes; GBK pages are
served as bytes with no charset added. Responses carry ETag and Last-Modified and
answer conditional requests with 304, like a real origin.
"""

from __future__ import annotations

import hashlib
import json
import threading
import tomllib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from infra.config import SourceConfig

__all__ = ["CORPUS_DIR", "CorpusServer", "Route", "sample_config_text", "sample_sources", "serve_corpus"]

CORPUS_DIR = Path(__file__).resolve().parent / "sample_corpus"
_CONTENT_TYPES = {
    ".xml": "application/xml",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".txt": "text/plain",
    ".md": "text/plain",
    ".dtd": "application/xml-dtd",
}
# One fixed Last-Modified for every corpus file: file mtimes differ per checkout, and
# the validators should be stable across runs of the same corpus.
_LAST_MODIFIED = "Sun, 19 Apr 2026 00:00:00 GMT"
_EMPTY_ARXIV = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    b"<title>ArXiv Query</title><id>http://arxiv.org/api/empty</id>"
    b'<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0'
    b"</opensearch:totalResults></feed>\n"
)


@dataclass(frozen=True)
class Route:
    """A fixed response for one path (tests use it for generated and hostile bodies)."""

    body: bytes = b""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    substitute: bool = False


@dataclass
class CorpusServer:
    root: Path
    canary: str | None = None
    hostile: bool = False
    base_url: str = ""
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_route(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        substitute: bool = False,
    ) -> str:
        """Serve `body` at `path` (overriding the corpus); returns the absolute URL."""
        self.routes[path] = Route(body, status, tuple((headers or {}).items()), substitute)
        return f"{self.base_url}{path}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def headers_of(self, path: str) -> list[dict[str, str]]:
        """Request headers of every hit on `path` (query ignored), oldest first."""
        with self._lock:
            return [headers for full, headers in self.requests if full.split("?", 1)[0] == path]

    def record(self, full_path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.hits[full_path.split("?", 1)[0]] += 1
            self.requests.append((full_path, headers))

    def substitute(self, body: bytes) -> bytes:
        # Bytes, not text: `{base}` is the same ASCII bytes in UTF-8, GBK and GB18030;
        # UTF-16 files carry it in their own code units.
        pairs = [("{base}", self.base_url)] + ([("{canary}", self.canary)] if self.canary is not None else [])
        for placeholder, value in pairs:
            for codec in ("ascii", "utf-16-le", "utf-16-be"):
                body = body.replace(placeholder.encode(codec), value.encode(codec))
        return body


def _hostile_routes(root: Path) -> dict[str, Route]:
    cases_file = root / "hostile" / "cases.toml"
    if not cases_file.is_file():
        return {}
    spec = tomllib.loads(cases_file.read_text(encoding="utf-8"))
    routes: dict[str, Route] = {}
    for case in [*spec.get("case", []), *spec.get("support", [])]:
        served_as = case.get("served_as")
        if not served_as or served_as.startswith("/x/") or "generate" in case:
            continue
        headers = [("Content-Type", case["content_type"])] if case.get("content_type") else []
        if case.get("content_encoding"):
            headers.append(("Content-Encoding", case["content_encoding"]))
        if case.get("location"):
            headers.append(("Location", case["location"]))
        body = (root / "hostile" / case["file"]).read_bytes() if case.get("file") else b""
        routes[served_as] = Route(body, int(case.get("status", 200)), tuple(headers), substitute=True)
    return routes


def _handler(server_state: CorpusServer, hostile_routes: dict[str, Route]) -> type[BaseHTTPRequestHandler]:
    site = server_state.root / "site"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            return  # tests count hits instead of reading an access log

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            server_state.record(self.path, {k.lower(): v for k, v in self.headers.items()})
            split = urlsplit(self.path)
            path, query = split.path, parse_qs(split.query)
            route = server_state.routes.get(path) or hostile_routes.get(path)
            if route is not None:
                body = server_state.substitute(route.body) if route.substitute else route.body
                self._send(route.status, body, dict(route.headers), conditional=route.status == 200)
                return
            if path.startswith("/x/") and path.endswith("/search"):
                self._x_search(path.split("/")[2], query)
                return
            if path == "/arxiv/query":
                start = query.get("start", ["0"])[0]
                file = site / "arxiv" / f"page-{start}.xml" if start.isdigit() else None
                if file is not None and file.is_file():
                    self._send_file(file)
                else:
                    self._send(200, _EMPTY_ARXIV, {"Content-Type": "application/atom+xml"})
                return
            file = (site / path.lstrip("/")).resolve()
            # Never serve outside site/ (a `..` in a test URL must not reach the repo).
            if site.resolve() not in file.parents or not file.is_file():
                self._send(404, b"not found\n", {"Content-Type": "text/plain"})
                return
            self._send_file(file)

        def _x_search(self, source: str, query: dict[str, list[str]]) -> None:
            token = query.get("next_token", query.get("pagination_token", [None]))[0]
            name = f"page-{token}.json" if token else "page-first.json"
            candidates = [site / "x" / source / name, server_state.root / "hostile" / "x" / source / name]
            file = next((c for c in candidates if c.is_file() and "/" not in (token or "")), None)
            if file is None:
                self._send(404, b'{"errors":[{"message":"unknown next_token"}]}', {"Content-Type": "application/json"})
                return
            body = server_state.substitute(file.read_bytes())
            since = query.get("since_id", [None])[0]
            if since and since.isdigit():
                body = _newer_than(body, int(since))
            self._send(200, body, {"Content-Type": "application/json"})

        def _send_file(self, file: Path) -> None:
            content_type = _CONTENT_TYPES.get(file.suffix.lower(), "application/octet-stream")
            self._send(200, server_state.substitute(file.read_bytes()), {"Content-Type": content_type})

        def _send(self, status: int, body: bytes, headers: dict[str, str], *, conditional: bool = True) -> None:
            if conditional and status == 200:
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                headers = {"ETag": etag, "Last-Modified": _LAST_MODIFIED, **headers}
                if self._not_modified(etag):
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            send_body(self, status, body, headers)

        def _not_modified(self, etag: str) -> bool:
            if_none_match = self.headers.get("If-None-Match")
            if if_none_match is not None:
                return etag in [tag.strip() for tag in if_none_match.split(",")]
            since = self.headers.get("If-Modified-Since")
            if since:
                try:
                    return parsedate_to_datetime(since) >= parsedate_to_datetime(_LAST_MODIFIED)
                except (TypeError, ValueError):
                    return False
            return False

    return Handler


def _newer_than(body: bytes, since_id: int) -> bytes:
    """What X returns for since_id: only newer posts, and no next page (older ones follow)."""
    try:
        page = json.loads(body)
    except ValueError:
        return body
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        return body
    kept = [
        post
        for post in page["data"]
        if isinstance(post, dict) and str(post.get("id", "")).isdigit() and int(post["id"]) > since_id
    ]
    if len(kept) == len(page["data"]):
        return body
    page["data"] = kept
    meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
    meta.pop("next_token", None)
    meta["result_count"] = len(kept)
    page["meta"] = meta
    if not kept:
        page.pop("data")
    return json.dumps(page, ensure_ascii=False).encode()


@contextmanager
def serve_corpus(
    root: Path | None = None, *, hostile: bool = False, canary: str | None = None, port: int = 0
) -> Iterator[CorpusServer]:
    """Serve the corpus until the block ends; yields the server with `.base_url` and `.hits`."""
    state = CorpusServer(root=Path(root or CORPUS_DIR), canary=canary, hostile=hostile)
    routes = _hostile_routes(state.root) if hostile else {}
    with serve_in_thread(_handler(state, routes), port) as base_url:
        state.base_url = base_url
        yield state


def send_body(
    handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    """One complete response with its Content-Length (our clients read to the stated length)."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def serve_in_thread(handler: type[BaseHTTPRequestHandler], port: int = 0) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 from a daemon thread until the block ends; yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="local-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def sample_sources(base_url: str, root: Path | None = None) -> list[SourceConfig]:
    """The corpus's sources.toml with `{base}` replaced; they are `local`: trusted for their own origin."""
    spec = tomllib.loads(((root or CORPUS_DIR) / "sources.toml").read_text(encoding="utf-8"))
    sources = []
    for entry in spec.get("sources", []):
        entry = {k: (v.replace("{base}", base_url) if isinstance(v, str) else v) for k, v in entry.items()}
        sources.append(SourceConfig(**entry))
    return sources


def _toml_value(value: object) -> str:
    # sources.toml holds strings, booleans and lists of strings; a JSON string is a valid TOML basic string.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    raise TypeError(f"sources.toml value {value!r} is not a string, a boolean or a list of strings")


def sample_config_text(base_url: str, root: Path | None = None) -> str:
    """A radar.toml reading the corpus served at `base_url` (`radar demo --serve` prints it).

    Every source keeps its keys from sources.toml, with `{base}` replaced and `local = true`;
    relative paths resolve beside the file the user saves it as.
    """
    spec = tomllib.loads(((root or CORPUS_DIR) / "sources.toml").read_text(encoding="utf-8"))
    lines = [
        f"# The bundled sample corpus, served by `radar demo --serve` on {base_url} until Ctrl-C.",
        "# Its week: radar -c radar.toml digest --from 2026-04-13 --to 2026-04-19 --out out/sample",
        'data_dir = "data"',
        "",
        "[kafka]",
        'bootstrap = "embedded"',
        "",
        "[fetch]",
        "# Every sample source is on this one local host: politeness delays would only slow it down.",
        "per_host_interval_s = 0",
        "arxiv_interval_s = 0",
    ]
    for entry in spec.get("sources", []):
        entry = {**entry, "local": True}
        lines += ["", "[[sources]]"]
        lines += [
            f"{key} = {_toml_value(value.replace('{base}', base_url) if isinstance(value, str) else value)}"
            for key, value in entry.items()
        ]
    return "\n".join(lines) + "\n"
