"""X at scale (issue 16): many accounts in packed `from:` queries, one rate limiter for the pool,
since_id per account across a changed account list.

`RecentSearch` is a real HTTP server on 127.0.0.1 implementing the part of
GET /2/tweets/search/recent the connector relies on: the query grammar it sends
(`from:a OR from:b ...`, optionally `(…) filter`), the 512-character limit (400 beyond it),
since_id, max_results, next_token pagination (newest first), includes.users, and the rate-limit
headers with a window budget that answers 429 when spent. Time is a fake wall clock shared by
the server (window resets) and the connector's limiter (its waits): a pause moves the clock,
nothing sleeps, and the server records the fake instant of every request.
"""

from __future__ import annotations

import json
import math
import random
import re
import string
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.cursors import CursorStore
from connectors.ingest import check_sources, run_ingest
from connectors.sample_server import send_body, serve_in_thread
from connectors.x import XRateLimiter, min_queries, pack_queries
from infra.config import Settings, SourceConfig
from infra.store import Store
from schemas.raw import RawPost
from tests.connector_support import envelopes, with_sources

SEARCH = "/2/tweets/search/recent"
JSON = {"Content-Type": "application/json"}
LIMIT = 512
_TERM = re.compile(r"from:([A-Za-z0-9_]{1,15})")


class FakeWallClock:
    """Epoch seconds that move only when the limiter sleeps (thread-safe)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += seconds


@dataclass
class Seen:
    """One request as the server saw it."""

    query: str
    since_id: str | None
    next_token: str | None
    at: float  # fake wall clock
    status: int
    window: int  # which rate-limit window it was counted in


@dataclass
class RecentSearch:
    clock: FakeWallClock
    budget: int | None = None  # requests per window; None = unlimited (headers still sent)
    window_s: float = 900.0
    posts: dict[int, str] = field(default_factory=dict)  # post id -> author handle
    force_429_at: dict[int, float] = field(default_factory=dict)  # request index -> seconds to reset
    oldest_since_id: int = 0  # a since_id below this is refused (400), as X refuses one older than 7 days
    log: list[Seen] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _window: int = 0
    _window_reset: float = 0.0
    _used: int = 0

    def add(self, handle: str, post_id: int) -> None:
        self.posts[post_id] = handle

    def user_id(self, handle: str) -> str:
        return str(1000 + int.from_bytes(handle.lower().encode()[:7], "big") % 10**9)

    # ------------------------------------------------------------------ request handling

    def answer(self, target: str) -> tuple[int, dict[str, str], bytes]:
        params = {k: v[0] for k, v in parse_qs(urlsplit(target).query, keep_blank_values=True).items()}
        query, since, token = params.get("query", ""), params.get("since_id"), params.get("next_token")
        with self.lock:
            now = self.clock.now()
            if now >= self._window_reset:
                self._window, self._window_reset, self._used = self._window + 1, now + self.window_s, 0
            index = len(self.log)
            status, body = self._search(query, since, token, params.get("max_results", "10"))
            if index in self.force_429_at:
                # Another client of the same app spent the window: 429 until a reset we choose.
                self._used = self.budget or 10**9
                self._window_reset = now + self.force_429_at[index]
                status, body = 429, b'{"title":"Too Many Requests"}'
            elif self.budget is not None and self._used >= self.budget:
                status, body = 429, b'{"title":"Too Many Requests"}'
            else:
                self._used += 1
            remaining = max(0, (self.budget or 10**6) - self._used)
            headers = {
                **JSON,
                "x-rate-limit-limit": str(self.budget or 10**6),
                "x-rate-limit-remaining": str(remaining),
                "x-rate-limit-reset": str(int(math.ceil(self._window_reset))),
            }
            self.log.append(Seen(query, since, token, now, status, self._window))
        return status, headers, body

    def _search(self, query: str, since: str | None, token: str | None, max_results: str) -> tuple[int, bytes]:
        if len(query) > LIMIT:
            detail = f"query length {len(query)} > {LIMIT}"
            return 400, json.dumps({"title": "Invalid Request", "detail": detail}).encode()
        inner = query
        if query.startswith("("):
            inner = query[1 : query.index(")")]
        terms = inner.split(" OR ")
        handles = [_TERM.fullmatch(t) for t in terms]
        if not terms or any(m is None for m in handles):
            return 400, b'{"title":"Invalid Request","detail":"unsupported query"}'
        wanted = {m.group(1).lower() for m in handles if m}
        page_size = int(max_results)
        if not 10 <= page_size <= 100:
            return 400, b'{"title":"Invalid Request","detail":"max_results"}'
        floor = int(since) if since else 0
        if since and floor < self.oldest_since_id:
            return 400, b'{"title":"Invalid Request","detail":"Invalid \'since_id\': too old"}'
        ceiling = int(token[1:]) if token else None
        matching = sorted(
            (
                pid
                for pid, h in self.posts.items()
                if h.lower() in wanted and pid > floor and (ceiling is None or pid < ceiling)
            ),
            reverse=True,
        )
        page, rest = matching[:page_size], matching[page_size:]
        data = [
            {
                "id": str(pid),
                "text": f"post {pid} by {self.posts[pid]}",
                "author_id": self.user_id(self.posts[pid]),
                "created_at": "2026-12-01T10:00:00.000Z",
                "lang": "en",
                "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 1, "quote_count": 0},
            }
            for pid in page
        ]
        authors = {self.posts[pid] for pid in page}
        users = [{"id": self.user_id(h), "username": h, "name": h} for h in sorted(authors)]
        meta: dict[str, object] = {"result_count": len(page)}
        if page:
            meta |= {"newest_id": str(page[0]), "oldest_id": str(page[-1])}
        if rest:
            meta["next_token"] = f"t{page[-1]}"  # stable: "older than this id", as X's tokens behave
        body: dict[str, object] = {"meta": meta}
        if page:
            body |= {"data": data, "includes": {"users": users}}
        return 200, json.dumps(body).encode()

    # ------------------------------------------------------------------ what the tests read

    def first_pages(self) -> list[Seen]:
        return [s for s in self.log if s.next_token is None and s.status == 200]

    def query_accounts(self, query: str) -> set[str]:
        return {m.group(1).lower() for m in _TERM.finditer(query)}


@contextmanager
def recent_search(clock: FakeWallClock, **kw: object) -> Iterator[RecentSearch]:
    server = RecentSearch(clock, **kw)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            return

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            if urlsplit(self.path).path != SEARCH:
                send_body(self, 404, b"{}", JSON)
                return
            status, headers, body = server.answer(self.path)
            send_body(self, status, body, headers)

    with serve_in_thread(Handler) as base_url:
        server.base_url = base_url
        yield server


def handles(count: int, seed: int = 16) -> list[str]:
    """Plausible X usernames: 4-15 characters, distinct ignoring case."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "_"
    out: dict[str, str] = {}
    while len(out) < count:
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 15)))
        out.setdefault(name.lower(), name)
    return list(out.values())


def x_source(name: str, base_url: str, accounts: list[str], **extra: object) -> SourceConfig:
    return SourceConfig(
        name=name,
        kind="x",
        url=base_url + SEARCH,
        tier="social",
        local=True,
        accounts=accounts,
        **{"page_size": 10, **extra},
    )


def keys_in_topic(broker: str, settings: Settings) -> Counter[str]:
    return Counter(e.key for e in envelopes(broker, settings.kafka, settings.kafka.raw_topic) if isinstance(e, RawPost))


# --------------------------------------------------------------------------- packing


@pytest.mark.parametrize("query_filter", [None, "-is:retweet lang:en"])
def test_300_accounts_pack_into_the_minimal_number_of_queries_within_the_limit(query_filter: str | None) -> None:
    accounts = handles(300)
    packed = pack_queries(accounts, LIMIT, query_filter)
    assert len(packed) == min_queries(accounts, LIMIT, query_filter)  # the lower bound: no packing does better
    assert all(len(q.query) <= LIMIT for q in packed)
    flat = [a for q in packed for a in q.accounts]
    assert sorted(flat) == sorted(accounts)  # every account exactly once
    for q in packed:
        assert q.query == (
            f"({' OR '.join(f'from:{a}' for a in q.accounts)}) {query_filter}"
            if query_filter
            else " OR ".join(f"from:{a}" for a in q.accounts)
        )
    # The packing does not depend on the configured order (cursors and queries stay put).
    assert pack_queries(list(reversed(accounts)), LIMIT, query_filter) == packed
    print(
        f"\n300 accounts (filter {query_filter!r}): {len(packed)} queries, lengths "
        f"{min(len(q.query) for q in packed)}-{max(len(q.query) for q in packed)} of {LIMIT}"
    )


def test_an_account_that_cannot_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_query_length"):
        pack_queries(["a" * 15], 64, "x" * 60)


# --------------------------------------------------------------------------- cursors across a changed list


def test_no_post_lost_or_doubled_when_the_account_list_changes(settings: Settings, broker: str) -> None:
    clock = FakeWallClock()
    everyone = handles(360)
    # 40 accounts leave the list (everyone[:40]) and 60 join (everyone[300:]).
    first, second, added = everyone[:300], everyone[40:360], everyone[300:360]
    next_id = iter(range(10**18, 10**18 + 100_000))
    with recent_search(clock) as server:
        # Two posts per account, ids interleaved across accounts (as on X), so the queries of
        # cycle 1 end at different newest ids and cycle 2's repacked queries mix cursors.
        for _ in range(2):
            for handle in everyone:
                server.add(handle, next(next_id))
        before_cycle_1 = set(server.posts)
        configured = with_sources(settings, [x_source("x-many", server.base_url, first)])
        one = run_ingest(configured, x_limiter=XRateLimiter(60, wall_clock=clock.now, sleep=clock.sleep))
        assert one.total("errors") == 0, one.sources[0]
        queries_1 = {s.query for s in server.first_pages()}
        assert len(queries_1) == min_queries(first, LIMIT) == len(pack_queries(first, LIMIT))
        assert all(s.since_id is None for s in server.first_pages())
        assert any(s.next_token for s in server.log), "chains were paginated"
        cursor_1 = CursorStore(Store(settings.store.path, 30)).load("x-many").since_ids

        # Between the cycles: everyone posts again, 40 accounts leave the list and 60 join
        # (whose two older posts have ids *below* every cursor of cycle 1).
        for handle in everyone:
            server.add(handle, next(next_id))
        log_mark = len(server.log)
        changed = with_sources(settings, [x_source("x-many", server.base_url, second)])
        two = run_ingest(changed, x_limiter=XRateLimiter(60, wall_clock=clock.now, sleep=clock.sleep))
        assert two.total("errors") == 0, two.sources[0]
        cycle_2 = [s for s in server.log[log_mark:] if s.next_token is None]

    def owned(handle_set: list[str], ids: set[int]) -> set[str]:
        lowered = {h.lower() for h in handle_set}
        return {f"x:{pid}" for pid in ids if server.posts[pid].lower() in lowered}

    all_ids = set(server.posts)
    expected_1 = owned(first, before_cycle_1)
    expected_2 = owned(second, all_ids) - expected_1
    assert one.total("produced") == len(expected_1) == 600
    assert two.total("produced") == len(expected_2) == 260 + 60 * 3
    produced = keys_in_topic(broker, settings)
    assert set(produced) == expected_1 | expected_2  # nothing lost, nothing of a removed account after removal
    assert max(produced.values()) == 1  # nothing doubled

    # Cycle 2: old accounts ask since their (smallest) cursor, new ones are packed apart without one.
    known = {h.lower() for h in second} - {h.lower() for h in added}
    for seen in cycle_2:
        accounts = server.query_accounts(seen.query)
        assert accounts <= known or not (accounts & known), "new and known accounts share no query"
        assert (seen.since_id is None) == (not accounts & known)
    assert len(cycle_2) == len(pack_queries([h for h in second if h.lower() in known], LIMIT)) + len(
        pack_queries(added, LIMIT)
    )

    # Repacked: accounts whose cycle-1 queries ended at different ids share a cycle-2 query. It
    # asks since the smallest of their cursors, and the posts between that and an author's own
    # cursor come back but are not produced again (counted unchanged).
    assert set(cursor_1) == {f"from:{h.lower()}" for h in first}
    mixed = 0
    for seen in cycle_2:
        if seen.since_id is not None:
            old = [int(cursor_1[f"from:{a}"]) for a in server.query_accounts(seen.query)]
            assert int(seen.since_id) == min(old)
            mixed += min(old) < max(old)
    assert mixed and two.sources[0].unchanged > 0

    # The cursors are per account, advanced to the newest id their query saw.
    cursor = CursorStore(Store(settings.store.path, 30)).load("x-many")
    assert set(cursor.since_ids) == {f"from:{h.lower()}" for h in everyone}
    for seen in cycle_2:
        accounts = server.query_accounts(seen.query)
        newest = max(pid for pid, h in server.posts.items() if h.lower() in accounts)
        for account in accounts:
            assert int(cursor.since_ids[f"from:{account}"]) >= newest


# --------------------------------------------------------------------------- one limiter for the pool


def _pool(settings: Settings, server: RecentSearch, per_source: int) -> Settings:
    accounts = handles(2 * per_source, seed=7)
    for i, handle in enumerate(accounts):
        server.add(handle, 10**18 + i)
    sources = [
        x_source("x-a", server.base_url, accounts[:per_source], page_size=100),
        x_source("x-b", server.base_url, accounts[per_source:], page_size=100),
    ]
    return with_sources(settings, sources, max_concurrency=4, max_rate_limit_wait_s=1000)


def test_remaining_zero_pauses_every_query_of_every_source_until_the_reset(settings: Settings, broker: str) -> None:
    clock = FakeWallClock()
    limiter = XRateLimiter(1000, wall_clock=clock.now, sleep=clock.sleep)
    with recent_search(clock, budget=3) as server:
        configured = _pool(settings, server, 150)
        report = run_ingest(configured, x_limiter=limiter)
    requests = len(server.log)
    assert report.total("errors") == 0 and report.total("produced") == 300
    assert max(keys_in_topic(broker, settings).values()) == 1
    # remaining=0 was honoured before the server had to refuse: not one 429.
    assert [s.status for s in server.log] == [200] * requests
    per_window = Counter(s.window for s in server.log)
    assert all(n <= 3 for n in per_window.values()) and len(per_window) == math.ceil(requests / 3)
    # Two sources ran at once, yet each pause held both: one sleep per spent window, each to its reset.
    assert len(limiter.pauses) == len(per_window) - 1 and all(w == pytest.approx(900, abs=1) for _, w in limiter.pauses)
    assert {"x-a", "x-b"} == {r.name for r in report.sources if r.requests}


def test_a_429_pauses_the_whole_pool_until_its_reset_then_everything_lands(settings: Settings, broker: str) -> None:
    clock = FakeWallClock()
    limiter = XRateLimiter(1000, wall_clock=clock.now, sleep=clock.sleep)
    with recent_search(clock, force_429_at={2: 120.0}) as server:
        configured = _pool(settings, server, 150)
        report = run_ingest(configured, x_limiter=limiter)
    statuses = [s.status for s in server.log]
    assert statuses.count(429) == 1
    refused = server.log[statuses.index(429)]
    reset = math.ceil(refused.at + 120)
    after = server.log[statuses.index(429) + 1 :]
    assert after and all(s.at >= reset for s in after), "no request of either source before the reset"
    assert [w for _, w in limiter.pauses] == [pytest.approx(reset - refused.at)]
    assert report.total("errors") == 0 and report.total("produced") == 300
    assert max(keys_in_topic(broker, settings).values()) == 1


def test_a_reset_beyond_the_bound_stops_the_pool_and_the_next_cycle_resumes(settings: Settings, broker: str) -> None:
    clock = FakeWallClock()
    with recent_search(clock, force_429_at={1: 3600.0}) as server:
        configured = _pool(settings, server, 150)
        configured = configured.model_copy(
            update={"fetch": configured.fetch.model_copy(update={"max_rate_limit_wait_s": 60})}
        )
        first = run_ingest(configured, x_limiter=XRateLimiter(60, wall_clock=clock.now, sleep=clock.sleep))
        asked_in_first = len(server.log)
        # Nobody waited an hour, and after the 429 nobody asked again in this cycle.
        assert clock.slept == [] and asked_in_first == 2
        assert first.total("errors") == 2  # one give-up per source; their other queries were not sent
        assert any("not polled" in note for r in first.sources for note in r.notes)
        clock.sleep(3600)  # the next cycle, after the reset
        second = run_ingest(configured, x_limiter=XRateLimiter(60, wall_clock=clock.now, sleep=clock.sleep))
    assert second.total("errors") == 0
    produced = keys_in_topic(broker, settings)
    assert len(produced) == 300 and max(produced.values()) == 1  # the first cycle's one page + the rest, once each
    letters = envelopes(broker, settings.kafka, settings.kafka.dlq_topic)
    assert len(letters) == 2 and all("rate limited" in d.reason for d in letters)


# --------------------------------------------------------------------------- stale cursors, checks


def test_a_since_id_older_than_the_week_is_dropped_once_and_nothing_repeats(settings: Settings, broker: str) -> None:
    clock = FakeWallClock()
    accounts = handles(40, seed=3)
    with recent_search(clock) as server:
        for i, handle in enumerate(accounts):
            server.add(handle, 10**18 + i)
        configured = with_sources(settings, [x_source("x-old", server.base_url, accounts)])
        first = run_ingest(configured, x_limiter=XRateLimiter(60, wall_clock=clock.now, sleep=clock.sleep))
        # A week later every cursor is older than what recent search accepts.
        server.oldest_since_id = 10**18 + 1000
        for i, handle in enumerate(accounts):
            server.add(handle, 10**18 + 2000 + i)
        mark = len(server.log)
        second = run_ingest(configured, x_limiter=XRateLimiter(60, wall_clock=clock.now, sleep=clock.sleep))
        refused = [s for s in server.log[mark:] if s.status == 400]
        retried = [s for s in server.log[mark:] if s.status == 200 and s.next_token is None]
    assert first.total("produced") == 40 and second.total("errors") == 0
    assert refused and all(s.since_id for s in refused) and all(s.since_id is None for s in retried)
    assert second.total("produced") == 40 and second.total("unchanged") == 40  # the old ones recognised
    produced = keys_in_topic(broker, settings)
    assert len(produced) == 80 and max(produced.values()) == 1


def test_sources_check_asks_the_first_packed_query(settings: Settings) -> None:
    clock = FakeWallClock()
    accounts = handles(300)
    with recent_search(clock) as server:
        server.add(accounts[0], 10**18)
        [check] = check_sources(with_sources(settings, [x_source("x-check", server.base_url, accounts)]))
    assert check.ok, check.detail
    assert f"300 accounts in {min_queries(accounts, LIMIT)} queries" in check.detail
    assert [s.query for s in server.log] == [pack_queries(accounts, LIMIT)[0].query]
