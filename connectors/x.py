"""X API v2 search/timeline pages -> one `RawPost` per post.

`data` is joined with `includes.users` (handle, name, verified); referenced_tweets,
entities.urls[].expanded_url, public_metrics and lang are kept. Pagination follows
`meta.next_token` up to `max_pages`, stopping on a token seen before (a loop).

since_id: the newest id of a run is stored only when the run walked the whole chain
(no page cap, no error, no rate-limit give-up); otherwise older pages would be
skipped forever. Posts already seen are filtered by their fingerprint either way.

Many accounts (a source with `accounts = [...]`, issue 16): the accounts are packed into as
few `from:a OR from:b ...` recent-search queries as fit `[x] max_query_length` (first-fit
decreasing; `pack_queries`). Cursors are kept per *account* (`SourceCursor.since_ids`), not
per query, because the packing changes whenever the account list does: a query asks
`since_id` = the smallest cursor of its accounts, a post at or below its own author's cursor
is known already (counted unchanged), and the `seen` fingerprints drop any other repeat.
Accounts without a cursor are packed apart from those with one, so a newly added account
does not make the old accounts of its query re-read their whole week.

Rate limits are per endpoint and token, not per source: every X request of an ingest cycle
goes through one `XRateLimiter`, one request at a time per endpoint, so the headers of each
answer (x-rate-limit-remaining / x-rate-limit-reset, or a 429) are known before the next
request leaves and a pause holds every query of every X source until the reset.

The bearer token comes from the env var named by `token_env` and goes only into
the Authorization header (which the fetcher drops on a cross-origin redirect); it is
never logged and never part of an envelope or a dead letter.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from connectors.base import SourceRun, describe_fetch_error, token_from_env
from connectors.cursors import fingerprint
from connectors.fetch import FetchResult
from infra.urlsafety import FetchError, check_url_syntax, is_public_address
from schemas.dates import parse_aware
from schemas.raw import RawPost, ReferencedPost, SocialMeta
from schemas.x_urls import is_x_post_id, x_status_url

__all__ = [
    "PackedQuery",
    "XPageError",
    "XRateLimiter",
    "collect_x",
    "pack_queries",
    "parse_x_page",
    "with_query",
]

log = logging.getLogger(__name__)

# A 429 is waited out at most this many times per query chain, each wait bounded by
# FetchSettings.max_rate_limit_wait_s.
_MAX_RATE_LIMIT_WAITS = 3
_REFERENCE_TYPES = {"retweeted", "quoted", "replied_to"}
_OR = " OR "


class XPageError(ValueError):
    """A page that cannot be used at all (bad JSON, wrong shape): one-line reason."""


def with_query(url: str, **params: str | None) -> str:
    """Set query parameters without re-encoding the others (X queries are fussy)."""
    base, _, query = url.partition("?")
    kept = [part for part in query.split("&") if part and part.split("=", 1)[0] not in params]
    kept += [f"{name}={quote(value, safe='')}" for name, value in params.items() if value is not None]
    return f"{base}?{'&'.join(kept)}" if kept else base


def parse_x_page(body: bytes) -> dict[str, Any]:
    """The page as a dict with a list `data`; raises XPageError on the wrong shape."""
    if not body.strip():
        raise XPageError("empty body: X page has no content")
    try:
        page = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise XPageError(f"invalid json: {str(exc)[:200]}") from None
    if not isinstance(page, dict):
        raise XPageError(f"wrong type: X page is a JSON {type(page).__name__}, expected an object")
    data = page.get("data", [])
    if not isinstance(data, list):
        raise XPageError(f"wrong type: 'data' is a {type(data).__name__}, expected a list")
    # No `data` key is how the API says "no results" (meta.result_count = 0).
    return {**page, "data": data}


def _users(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    includes = page.get("includes")
    users = includes.get("users") if isinstance(includes, dict) else None
    if not isinstance(users, list):
        return {}
    return {str(u["id"]): u for u in users if isinstance(u, dict) and isinstance(u.get("id"), str)}


def _count(metrics: dict[str, Any], name: str) -> int:
    value = metrics.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"public_metrics.{name} is not a non-negative integer")
    return value


def _post_problem(record: Any, users: dict[str, dict[str, Any]]) -> str | None:
    """Why a record cannot become a post, or None. Required: id, text, author_id, joined user."""
    if not isinstance(record, dict):
        return f"wrong type: post is a {type(record).__name__}, expected an object"
    for name in ("id", "text", "author_id"):
        if name not in record:
            return f"missing field: post has no {name!r}"
        if not isinstance(record[name], str) or not record[name]:
            return f"wrong type: post field {name!r} must be a non-empty string"
    if not is_x_post_id(record["id"]):
        return "wrong type: post id is not numeric"
    created = record.get("created_at")
    if created is not None and (not isinstance(created, str) or parse_aware(created) is None):
        return "wrong type: created_at is not an ISO 8601 timestamp"
    metrics = record.get("public_metrics", {})
    if not isinstance(metrics, dict):
        return "wrong type: public_metrics is not an object"
    for optional in ("lang", "conversation_id"):
        if optional in record and not isinstance(record[optional], str):
            return f"wrong type: {optional} is not a string"
    for optional in ("referenced_tweets",):
        if optional in record and not isinstance(record[optional], list):
            return f"wrong type: {optional} is not a list"
    if record["author_id"] not in users:
        return f"missing field: author {record['author_id']} is not in includes.users"
    return None


def _expanded_urls(record: dict[str, Any]) -> tuple[str, ...]:
    entities = record.get("entities")
    urls = entities.get("urls") if isinstance(entities, dict) else None
    if not isinstance(urls, list):
        return ()
    found = [u.get("expanded_url") for u in urls if isinstance(u, dict)]
    return tuple(dict.fromkeys(u for u in found if isinstance(u, str) and u))


def _unsafe(urls: tuple[str, ...]) -> tuple[str, ...]:
    """Expanded URLs that could never be fetched safely (they are not fetched here at all)."""
    bad = []
    for url in urls:
        try:
            target = check_url_syntax(url)
        except (FetchError, ValueError):
            bad.append(url)
            continue
        if target.ip_literal and not is_public_address(target.host):
            bad.append(url)
    return tuple(bad)


def post_from_record(run: SourceRun, record: dict[str, Any], user: dict[str, Any], provenance: Any) -> RawPost:
    metrics = record.get("public_metrics") or {}
    handle = str(user.get("username") or record["author_id"])
    references = tuple(
        ReferencedPost(type=ref["type"], id=str(ref["id"]))
        for ref in record.get("referenced_tweets") or []
        if isinstance(ref, dict) and ref.get("type") in _REFERENCE_TYPES and isinstance(ref.get("id"), str)
    )
    expanded = _expanded_urls(record)
    created = record.get("created_at")
    return RawPost(
        key=f"x:{record['id']}",
        source=run.ref,
        fetch=provenance,
        native_id=record["id"],
        # No link rather than one built from a handle X never issues (markup, "../").
        url=x_status_url(handle, record["id"]),
        text=record["text"],
        lang=record.get("lang"),
        published=created,
        published_at=parse_aware(created),
        social=SocialMeta(
            author_id=record["author_id"],
            handle=handle,
            display_name=user.get("name") if isinstance(user.get("name"), str) else None,
            verified=user.get("verified") if isinstance(user.get("verified"), bool) else None,
            conversation_id=record.get("conversation_id"),
            referenced=references,
            expanded_urls=expanded,
            retweets=_count(metrics, "retweet_count"),
            replies=_count(metrics, "reply_count"),
            likes=_count(metrics, "like_count"),
            quotes=_count(metrics, "quote_count"),
            bookmarks=_count(metrics, "bookmark_count"),
            impressions=_count(metrics, "impression_count"),
        ),
        unsafe_links=_unsafe(expanded),
        body=json.dumps(record, ensure_ascii=False, separators=(",", ":")),
    )


# --------------------------------------------------------------------------- packing


@dataclass(frozen=True)
class PackedQuery:
    """One recent-search query: the accounts it covers and its text (within the length limit)."""

    accounts: tuple[str, ...]
    query: str


def _term(handle: str) -> str:
    return f"from:{handle}"


def _query_text(handles: list[str] | tuple[str, ...], query_filter: str | None) -> str:
    joined = _OR.join(_term(h) for h in handles)
    # Parentheses always (even for one account) keep a query's length a plain sum of its
    # terms, which is what the packing counts.
    return f"({joined}) {query_filter}" if query_filter else joined


def pack_queries(handles: list[str], max_length: int, query_filter: str | None = None) -> list[PackedQuery]:
    """Accounts into as few `from:a OR from:b ...` queries as fit `max_length` characters.

    Bin packing by first-fit decreasing: an account costs len("from:" + handle) + len(" OR ")
    against a capacity of max_length + len(" OR ") - the filter's overhead, so a query's length
    is exactly the sum of its accounts' costs. FFD is within 11/9 of the optimum in general and
    meets the lower bound ceil(total cost / capacity) on real handle lists (README "X at scale").
    The order is by cost, then name: the same list always packs the same way, whatever its order.
    Raises ValueError when one account alone does not fit (a filter far too long).
    """
    overhead = len(query_filter) + 3 if query_filter else 0  # "(", ") " around the OR list
    capacity = max_length + len(_OR) - overhead
    items = sorted(handles, key=lambda h: (-len(h), h.lower()))
    bins: list[list[str]] = []
    room: list[int] = []
    for handle in items:
        cost = len(_term(handle)) + len(_OR)
        if cost > capacity:
            raise ValueError(
                f"query for account {handle!r} would exceed max_query_length={max_length}"
                " (shorten query_filter or raise [x] max_query_length)"
            )
        for index, left in enumerate(room):
            if cost <= left:
                bins[index].append(handle)
                room[index] -= cost
                break
        else:
            bins.append([handle])
            room.append(capacity - cost)
    return [PackedQuery(tuple(accounts), _query_text(accounts, query_filter)) for accounts in bins]


def min_queries(handles: list[str], max_length: int, query_filter: str | None = None) -> int:
    """The lower bound no packing can beat: total cost over capacity, rounded up."""
    overhead = len(query_filter) + 3 if query_filter else 0
    total = sum(len(_term(h)) + len(_OR) for h in handles)
    return math.ceil(total / (max_length + len(_OR) - overhead)) if handles else 0


# --------------------------------------------------------------------------- rate limits


@dataclass
class _Window:
    remaining: int | None = None  # None: not known (no answer yet, or the window has reset)
    reset_at: float | None = None  # epoch seconds, X's x-rate-limit-reset
    busy: bool = False


@dataclass
class XRateLimiter:
    """The X rate limit of one ingest cycle, shared by every X source and query.

    X limits requests per endpoint and per app/user token (e.g. recent search: 60 per 15 min on
    Basic, 450 on Pro), and says where a window stands in x-rate-limit-remaining and
    x-rate-limit-reset (epoch seconds). Requests to one endpoint+token go one at a time (the
    limit allows one every ~2 s at best, so nothing is lost), which makes the pause exact: when
    an answer says remaining=0 or is a 429, no other request to that endpoint leaves before the
    reset, from any source. A reset further away than `max_wait_s` makes every query of that
    endpoint give up for this cycle (its cursor unmoved) instead of waiting.

    `wall_clock`/`sleep` are injectable so tests drive the pause with a fake clock.
    """

    max_wait_s: float
    default_wait_s: float = 1.0  # a 429 without x-rate-limit-reset: wait this long
    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _windows: dict[str, _Window] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    pauses: list[tuple[str, float]] = field(default_factory=list)  # (endpoint key, seconds waited)

    @staticmethod
    def key(url: str, token_env: str | None) -> str:
        """Where a limit applies: the endpoint (origin + path) and which token is used."""
        parts = urlsplit(url)
        return f"{token_env or '-'} {parts.scheme}://{parts.netloc}{parts.path}"

    @contextmanager
    def turn(self, key: str) -> Iterator[bool]:
        """Hold the endpoint for one request; yields False when its reset is beyond `max_wait_s`.

        Waits for the request in flight (another source's) to be answered, then, while the
        window is spent, sleeps until its reset *holding the endpoint*: the whole pool pauses.
        """
        with self._cond:
            window = self._windows.setdefault(key, _Window())
            while window.busy:
                self._cond.wait()
            window.busy = True
        try:
            yield self._wait_for_window(key, window)
        finally:
            with self._cond:
                window.busy = False
                self._cond.notify_all()

    def _wait_for_window(self, key: str, window: _Window) -> bool:
        # Only the holder of the endpoint gets here, so reading the window needs no lock.
        if window.reset_at is None or window.remaining != 0:
            return True
        wait = window.reset_at - self.wall_clock()
        if wait > self.max_wait_s:
            log.warning(
                "X rate limit on %s: reset in %.0f s, more than the %.0f s allowed; resume next run",
                key.split(" ", 1)[1],
                wait,
                self.max_wait_s,
            )
            return False
        if wait > 0:
            log.info("X rate limit on %s: pausing every query %.1f s until the reset", key.split(" ", 1)[1], wait)
            self.pauses.append((key, wait))
            self.sleep(wait)
        window.remaining, window.reset_at = None, None  # a new window: its size comes with the next answer
        return True

    def observe(self, key: str, result: FetchResult) -> None:
        """Take the window from an answer's headers (call while holding the turn)."""
        window = self._windows[key]
        remaining = _number_header(result.headers, "x-rate-limit-remaining")
        reset = _number_header(result.headers, "x-rate-limit-reset")
        if result.status == 429:
            window.remaining = 0
            window.reset_at = reset if reset is not None else self.wall_clock() + self.default_wait_s
            return
        if remaining is not None:
            window.remaining = int(remaining)
        if reset is not None:
            window.reset_at = reset

    def spent_beyond_bound(self, key: str) -> bool:
        """True when the endpoint's window is spent and resets later than the bound allows."""
        window = self._windows.get(key)
        return bool(
            window
            and window.remaining == 0
            and window.reset_at is not None
            and window.reset_at - self.wall_clock() > self.max_wait_s
        )


def _number_header(headers: dict[str, str], name: str) -> float | None:
    value = headers.get(name, "").strip()
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and number >= 0 else None


# --------------------------------------------------------------------------- collecting


def collect_x(
    run: SourceRun,
    *,
    limiter: XRateLimiter | None = None,
    max_query_length: int = 512,
    sleep: Callable[[float], None] = time.sleep,
    wall_clock: Callable[[], float] = time.time,
) -> None:
    """An `x` source: its packed account queries, or its one configured query.

    `limiter` is the cycle's shared one (`connectors.ingest` makes it); alone (tests, one source)
    a private one is made from `sleep`/`wall_clock`.
    """
    if limiter is None:
        limiter = XRateLimiter(
            run.fetch_settings.max_rate_limit_wait_s, run.fetch_settings.backoff_s, wall_clock, sleep
        )
    token = token_from_env(run.source.token_env)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    base_url = run.source.url
    if "max_results=" not in base_url:
        base_url = with_query(base_url, max_results=str(max(10, min(run.source.page_size, 100))))
    chain = _Chain(run, limiter, limiter.key(run.source.url, run.source.token_env), headers)
    if not run.source.accounts:
        since = run.cursor.since_id if run.cursor.since_id and run.cursor.since_id.isdigit() else None
        newest = chain.walk(base_url, since, lambda _handle: int(since or 0))
        if newest is not None:
            run.update.since_id = str(max(newest, int(since or 0)))
        return
    _collect_accounts(run, chain, base_url, max_query_length)


def _collect_accounts(run: SourceRun, chain: _Chain, base_url: str, max_query_length: int) -> None:
    cursors = {part: int(since) for part, since in run.cursor.since_ids.items() if since.isdigit()}
    known = [h for h in run.source.accounts if f"from:{h.lower()}" in cursors]
    new = [h for h in run.source.accounts if f"from:{h.lower()}" not in cursors]
    try:
        # New accounts apart: with no cursor their query reads the whole week, and old accounts
        # packed with them would read it again too (min since_id).
        queries = [
            *pack_queries(known, max_query_length, run.source.query_filter),
            *pack_queries(new, max_query_length, run.source.query_filter),
        ]
    except ValueError as exc:
        run.errors += 1
        run.dead_letter("fetch", f"invalid query: {exc}")
        return

    def own_cursor(handle: str) -> int:
        return cursors.get(f"from:{handle.lower()}", 0)

    for packed in queries:
        if chain.gave_up:
            # The endpoint's window resets beyond the bound: the other queries would only be
            # refused too. Their cursors stay; the next run resumes them.
            run.notes.append(f"{len(packed.accounts)} account(s) not polled: rate limited until after this run")
            continue
        since_values = [own_cursor(h) for h in packed.accounts]
        since = str(min(since_values)) if since_values and min(since_values) > 0 else None
        newest = chain.walk(with_query(base_url, query=packed.query), since, own_cursor)
        if newest is None:
            continue
        for handle in packed.accounts:
            # The query walked its whole chain: every post of these accounts up to `newest` is here.
            part = f"from:{handle.lower()}"
            run.update.since_ids[part] = str(max(newest, own_cursor(handle)))
    run.notes.append(
        f"{len(run.source.accounts)} accounts in {len(queries)} queries (max_query_length={max_query_length})"
    )


@dataclass
class _Chain:
    """Walks one query's next_token chain through the shared limiter."""

    run: SourceRun
    limiter: XRateLimiter
    key: str
    headers: dict[str, str] | None
    gave_up: bool = False

    def walk(self, first_url: str, since_id: str | None, own_cursor: Callable[[str], int]) -> int | None:
        """Produce the chain's posts; the newest id when the whole chain was walked, else None.

        `own_cursor(handle)` is the id up to which that author's posts are known already.
        """
        run = self.run
        if since_id:
            first_url = with_query(first_url, since_id=since_id)
        newest: int | None = None
        tokens_seen: set[str] = set()
        next_token: str | None = None
        rate_limit_waits = 0
        pages = 0
        while pages < run.source.max_pages:
            url = with_query(first_url, next_token=next_token) if next_token else first_url
            with self.limiter.turn(self.key) as allowed:
                if not allowed:
                    self._give_up(url)
                    return None
                result = self._fetch(url)
                if result is not None:
                    self.limiter.observe(self.key, result)
            if result is None:
                return None
            if result.status == 400 and since_id and pages == 0:
                # Recent search refuses a since_id older than its 7 days (HTTP 400): a source or
                # account not polled for a week would fail forever. Ask again without it; what
                # was produced before is recognised by its id and fingerprint.
                log.warning(
                    "source %s: since_id %s refused (older than recent search's 7 days?); polling the whole week once",
                    run.source.name,
                    since_id,
                )
                first_url = with_query(first_url, since_id=None)
                since_id = None
                continue
            if result.status == 429:
                if rate_limit_waits >= _MAX_RATE_LIMIT_WAITS or self.limiter.spent_beyond_bound(self.key):
                    self._give_up(url)
                    return None
                rate_limit_waits += 1
                continue  # the next turn waits for the reset, holding every other query too
            pages += 1
            try:
                page = parse_x_page(result.body)
            except XPageError as exc:
                run.errors += 1
                run.dead_letter("parse", str(exc), original=result.body, url=url, error=exc)
                return None
            page_newest = _produce_page(run, page, result, own_cursor)
            if page_newest is not None:
                newest = max(newest or 0, page_newest)
            meta = page.get("meta")
            candidate = meta.get("next_token") if isinstance(meta, dict) else None
            if not isinstance(candidate, str) or not candidate:
                return newest
            if candidate in tokens_seen:
                run.errors += 1
                run.dead_letter(
                    "parse",
                    f"pagination loop: next_token {candidate[:80]!r} was already followed",
                    original=result.body,
                    url=url,
                )
                return None
            tokens_seen.add(candidate)
            next_token = candidate
        run.notes.append(f"stopped at max_pages={run.source.max_pages}; older posts are left for a later run")
        return None

    def _fetch(self, url: str) -> FetchResult | None:
        """run.fetch, except that a 400 to a request carrying since_id comes back to `walk`."""
        try:
            return self.run.fetch(
                url, trusted=self.run.source.local, extra_headers=self.headers, dead_letter_errors=False
            )
        except FetchError as exc:
            if exc.status == 400 and "since_id=" in url and "next_token=" not in url:
                return FetchResult(url, exc.url, 400, {}, b"", None, (), False, 0.0)
            self.run.errors += 1
            self.run.dead_letter("fetch", describe_fetch_error(exc), url=url, error=exc)
            return None

    def _give_up(self, url: str) -> None:
        self.gave_up = True
        self.run.errors += 1
        self.run.dead_letter(
            "fetch", "rate limited (HTTP 429): reset beyond the allowed wait; resume next run", url=url
        )


def _produce_page(
    run: SourceRun, page: dict[str, Any], result: FetchResult, own_cursor: Callable[[str], int]
) -> int | None:
    users = _users(page)
    provenance = run.provenance(result)
    newest: int | None = None
    for record in page["data"]:
        problem = _post_problem(record, users)
        if problem is None:
            try:
                post = post_from_record(run, record, users[record["author_id"]], provenance)
            except (TypeError, ValueError) as exc:
                problem = f"wrong type: {str(exc).splitlines()[0][:200]}"
        if problem is not None:
            original = json.dumps(record, ensure_ascii=False).encode("utf-8")
            run.dead_letter("parse", problem, original=original, url=result.final_url)
            continue
        newest = max(newest or 0, int(record["id"]))
        if int(record["id"]) <= own_cursor(str(users[record["author_id"]].get("username") or "")):
            # Covered by an earlier run: a server that ignores since_id, or a packed query whose
            # since_id (the smallest of its accounts') is below this author's own cursor.
            run.fetched += 1
            run.unchanged += 1
            continue
        content = fingerprint(record["text"], record.get("referenced_tweets"), _expanded_urls(record))
        if run.is_new(post.key, content):
            run.emit(post, content)
    return newest
