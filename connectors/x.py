"""X API v2 search/timeline pages -> one `RawPost` per post.

`data` is joined with `includes.users` (handle, name, verified); referenced_tweets,
entities.urls[].expanded_url, public_metrics and lang are kept. Pagination follows
`meta.next_token` up to `max_pages`, stopping on a token seen before (a loop).

since_id: the newest id of a run is stored only when the run walked the whole chain
(no page cap, no error, no rate-limit give-up); otherwise older pages would be
skipped forever. Posts already seen are filtered by their fingerprint either way.

The bearer token comes from the env var named by `token_env` and goes only into
the Authorization header (which the fetcher drops on a cross-origin redirect); it is
never logged and never part of an envelope or a dead letter.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from connectors.base import SourceRun, parse_date, token_from_env
from connectors.cursors import fingerprint
from connectors.fetch import FetchResult
from connectors.urlsafety import FetchError, check_url_syntax, is_public_address
from schemas.raw import RawPost, ReferencedPost, SocialMeta
from schemas.x_urls import is_x_post_id, x_status_url

__all__ = ["XPageError", "collect_x", "parse_x_page", "with_query"]

log = logging.getLogger(__name__)

# A 429 is waited out at most this many times per run, each wait bounded by
# FetchSettings.max_rate_limit_wait_s.
_MAX_RATE_LIMIT_WAITS = 3
_REFERENCE_TYPES = {"retweeted", "quoted", "replied_to"}


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
    if created is not None and (not isinstance(created, str) or parse_date(created) is None):
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
        published_at=parse_date(created),
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


def collect_x(
    run: SourceRun,
    *,
    sleep: Callable[[float], None] = time.sleep,
    wall_clock: Callable[[], float] = time.time,
) -> None:
    """An `x` source: walk the next_token chain from since_id, honouring 429 resets."""
    token = token_from_env(run.source.token_env)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    first_url = run.source.url
    if "max_results=" not in first_url:
        first_url = with_query(first_url, max_results=str(max(10, min(run.source.page_size, 100))))
    if run.cursor.since_id:
        first_url = with_query(first_url, since_id=run.cursor.since_id)

    newest: int | None = None
    tokens_seen: set[str] = set()
    next_token: str | None = None
    complete = False
    rate_limit_waits = 0
    pages = 0
    while pages < run.source.max_pages:
        url = with_query(first_url, next_token=next_token) if next_token else first_url
        result = run.fetch(url, trusted=run.source.local, extra_headers=headers)
        if result is None:
            break
        if result.status == 429:
            if rate_limit_waits >= _MAX_RATE_LIMIT_WAITS or not _wait_for_reset(run, result, sleep, wall_clock):
                run.errors += 1
                run.dead_letter("fetch", "rate limited (HTTP 429): reset beyond the allowed wait; resume next run",
                                url=url)
                break
            rate_limit_waits += 1
            continue
        pages += 1
        try:
            page = parse_x_page(result.body)
        except XPageError as exc:
            run.errors += 1
            run.dead_letter("parse", str(exc), original=result.body, url=url, error=exc)
            break
        page_newest = _produce_page(run, page, result)
        if page_newest is not None:
            newest = max(newest or 0, page_newest)
        meta = page.get("meta")
        candidate = meta.get("next_token") if isinstance(meta, dict) else None
        if not isinstance(candidate, str) or not candidate:
            complete = True
            break
        if candidate in tokens_seen:
            run.errors += 1
            run.dead_letter("parse", f"pagination loop: next_token {candidate[:80]!r} was already followed",
                            original=result.body, url=url)
            break
        tokens_seen.add(candidate)
        next_token = candidate
    else:
        run.notes.append(f"stopped at max_pages={run.source.max_pages}; older posts are left for a later run")
    if complete and newest is not None:
        previous = int(run.cursor.since_id) if run.cursor.since_id and run.cursor.since_id.isdigit() else 0
        run.update.since_id = str(max(newest, previous))


def _wait_for_reset(
    run: SourceRun, result: FetchResult, sleep: Callable[[float], None], wall_clock: Callable[[], float]
) -> bool:
    """Sleep until x-rate-limit-reset (epoch seconds) when that is within the bound."""
    reset = result.headers.get("x-rate-limit-reset", "").strip()
    bound = run.fetch_settings.max_rate_limit_wait_s
    try:
        wait = max(0.0, float(reset) - wall_clock()) if reset else run.fetch_settings.backoff_s
    except ValueError:
        wait = run.fetch_settings.backoff_s
    if wait > bound:
        log.warning("source %s rate limited for %.0f s (more than the %.0f s allowed)", run.source.name, wait, bound)
        return False
    log.info("source %s rate limited; waiting %.1f s for the reset", run.source.name, wait)
    sleep(wait)
    return True


def _produce_page(run: SourceRun, page: dict[str, Any], result: FetchResult) -> int | None:
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
        if run.cursor.since_id and run.cursor.since_id.isdigit() and int(record["id"]) <= int(run.cursor.since_id):
            # A server that ignores since_id: the post was covered by an earlier run.
            run.fetched += 1
            run.unchanged += 1
            continue
        content = fingerprint(record["text"], record.get("referenced_tweets"), _expanded_urls(record))
        if run.is_new(post.key, content):
            run.emit(post, content)
    return newest
