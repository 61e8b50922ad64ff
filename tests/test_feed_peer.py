"""feedparser's own test feeds, served on 127.0.0.1, through the feed connector.

The yardstick is a lenient reader: a well-formed RSS/Atom/RDF feed whose entries carry
a title, description or content must give envelopes, and an ill-formed one must end as
envelopes or dead letters with reasons, never as a crash or a hang.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import feedparser
import pytest

from connectors.base import SourceRun
from connectors.cursors import SourceCursor
from connectors.feed import collect_feed
from connectors.fetch import Fetcher
from connectors.sample_server import send_body, serve_in_thread
from infra.config import FetchSettings
from schemas.raw import RawPost
from tests.connector_support import FAST_FETCH, source

PEER = Path(__file__).resolve().parents[2] / "shared" / "peer" / "feedparser-tests" / "tests"
if not PEER.is_dir():
    PEER = Path("/work/shared/peer/feedparser-tests/tests")
WELLFORMED = PEER / "wellformed"
ILLFORMED = PEER / "illformed"
# The format directories of the suite; the others test one feature (sanitising, xml:base,
# iTunes ...) on top of these formats.
FORMAT_DIRS = ("rss", "rdf", "atom", "atom10")
# Links in these feeds point at example.com and friends: never follow them off this machine.
NO_FOLLOW: FetchSettings = FAST_FETCH.model_copy(update={"follow_links": False})


def test_the_peer_suite_is_here() -> None:
    # Never skip: without the files the parametrized tests below would silently collect nothing.
    assert WELLFORMED.is_dir() and ILLFORMED.is_dir(), f"{PEER} is missing: the checkout must sit beside ../shared"


def _has_text_entries(path: Path) -> bool:
    """feedparser decides: at least one entry with a title, description or content."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = feedparser.parse(path.read_bytes())
    return any(entry.get("title") or entry.get("summary") or entry.get("content") for entry in parsed.entries)


def _selection() -> list[Path]:
    if not WELLFORMED.is_dir():
        return []
    files = sorted(p for d in FORMAT_DIRS for p in (WELLFORMED / d).glob("*.xml"))
    return [p for p in files if _has_text_entries(p)]


@dataclass(frozen=True)
class Outcome:
    posts: int
    reasons: tuple[str, ...]


@contextmanager
def serve_peer() -> Iterator[str]:
    """Serves the suite's files by their path under `tests/`, as a feed server would."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            return

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            relative = self.path.split("?", 1)[0].lstrip("/")
            target = (PEER / relative).resolve()
            if PEER.resolve() not in target.parents or not target.is_file():
                send_body(self, 404, b"not found", {"Content-Type": "text/plain"})
                return
            send_body(self, 200, target.read_bytes(), {"Content-Type": "application/xml"})

    with serve_in_thread(Handler) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def peer_server() -> Iterator[str]:
    with serve_peer() as base_url:
        yield base_url


def collect_peer_file(base_url: str, path: Path) -> Outcome:
    relative = path.relative_to(PEER).as_posix()
    config = source(relative.replace("/", "-"), "feed", f"{base_url}/{relative}")
    with Fetcher(NO_FOLLOW) as fetcher:
        run = SourceRun(config, fetcher, NO_FOLLOW, SourceCursor(config.name), {})
        collect_feed(run)
    posts = sum(isinstance(e, RawPost) for e in run.envelopes)
    return Outcome(posts, tuple(letter.reason for letter in run.dead_letters))


def test_wellformed_selection_gives_envelopes(peer_server: str) -> None:
    selection = _selection()
    assert len(selection) >= 90, f"selection shrank to {len(selection)}: is the suite complete?"
    started = time.monotonic()
    lost = {}
    for path in selection:
        outcome = collect_peer_file(peer_server, path)
        if outcome.posts == 0:
            lost[path.relative_to(WELLFORMED).as_posix()] = outcome.reasons
    kept = len(selection) - len(lost)
    for name, reasons in lost.items():
        print(f"  lost {name}: {reasons}")
    print(f"wellformed selection: {kept}/{len(selection)} feeds give envelopes in {time.monotonic() - started:.1f}s")
    assert kept >= 0.95 * len(selection), f"{kept}/{len(selection)}; lost: {lost}"


@pytest.mark.timeout(60)  # a hang guard: each file takes milliseconds
@pytest.mark.parametrize("path", sorted(ILLFORMED.rglob("*.xml")), ids=lambda p: p.relative_to(ILLFORMED).as_posix())
def test_illformed_gives_envelopes_or_reasons(peer_server: str, path: Path) -> None:
    outcome = collect_peer_file(peer_server, path)
    if _has_text_entries(path):
        assert outcome.posts > 0 or outcome.reasons, "neither an envelope nor a dead letter"
    # else: a channel with no entries to keep (feedparser agrees), so silence is right.
    assert all(reason.strip() for reason in outcome.reasons)
