"""What every connector shares: one run of one source, its outputs and its counters.

A connector receives a `SourceRun`, fetches through it (so fetch failures become
dead letters in one place), emits envelopes and dead letters into it, and records
the cursor it would like stored. `connectors.ingest` produces the outputs and only
then commits the cursor.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from connectors.cursors import CursorUpdate, SourceCursor
from connectors.encoding import DecodedText
from connectors.fetch import Fetcher, FetchError, FetchResult
from infra.config import FetchSettings, SourceConfig
from infra.dlq import make_dead_letter
from infra.redact import register_secret
from infra.urlsafety import same_origin
from schemas.common import SourceRef
from schemas.dead_letter import DeadLetter, Stage
from schemas.keys import page_item_id
from schemas.raw import Fetch, RawPage, RawPost

__all__ = [
    "FETCH_REASON_TEXT",
    "SourceRun",
    "describe_fetch_error",
]

log = logging.getLogger(__name__)

# Dead-letter reasons start with words a person (and the hostile-case table) can
# search for, rather than the fetcher's short codes.
FETCH_REASON_TEXT: dict[str, str] = {
    "unsafe-url": "unsafe url",
    "too-large": "size cap exceeded",
    "timeout": "timeout",
    "http-error": "http error",
    "connection": "connection failed",
    "bad-encoding": "bad content encoding",
    "robots-disallowed": "disallowed by robots.txt",
    "redirect-loop": "redirect loop",
}


def describe_fetch_error(exc: FetchError) -> str:
    return f"{FETCH_REASON_TEXT.get(exc.reason, exc.reason)}: {exc.detail} [{exc.url}]"


@dataclass
class SourceRun:
    """One run of one source: inputs, outputs and counters."""

    source: SourceConfig
    fetcher: Fetcher
    fetch_settings: FetchSettings
    cursor: SourceCursor
    # Pages of sources whose envelopes Kafka has acknowledged in this ingest run: url -> page
    # key (None when the fetch failed), so two entries linking the same article fetch it once.
    # Read-only here: sources run concurrently, and a page another source fetched but has not
    # yet delivered must not be skipped (a crash would leave it unsent while this source's
    # cursor moved on); `ingest` publishes `own_pages` into it after the acknowledgement.
    page_cache: dict[str, str | None] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    envelopes: list[RawPost | RawPage] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    update: CursorUpdate = field(init=False)
    fetched: int = 0
    unchanged: int = 0
    skipped_links: int = 0
    errors: int = 0
    requests: int = 0
    not_modified: bool = False
    notes: list[str] = field(default_factory=list)
    # Pages this run fetched (same shape as `page_cache`), published once delivered.
    own_pages: dict[str, str | None] = field(default_factory=dict)
    _keys_this_run: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.update = CursorUpdate(self.source.name)

    # ------------------------------------------------------------------ identity

    @property
    def ref(self) -> SourceRef:
        return SourceRef(
            name=self.source.name,
            kind=self.source.kind,
            tier=self.source.tier,
            publisher=self.source.display_publisher,
            organisation=self.source.organisation,
            url=self.source.url,
        )

    @property
    def produced(self) -> int:
        return len(self.envelopes)

    # ------------------------------------------------------------------ outputs

    def dead_letter(
        self,
        stage: Stage,
        reason: str,
        *,
        original: bytes = b"",
        url: str | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.dead_letters.append(
            make_dead_letter(
                stage=stage,
                reason=reason,
                original=original,
                source_name=self.source.name,
                url=url or self.source.url,
                error=error,
            )
        )

    def is_new(self, key: str, content_fingerprint: str, *, page: bool = False) -> bool:
        """Count an item as fetched; True when it must be produced (new or edited).

        Pages are tracked apart from posts: an entry and the page it links to share
        their key (the canonical URL) but are two envelopes.
        """
        key = _seen_key(key, page)
        if key in self._keys_this_run:
            # The same entry twice in one document (or linked twice): one envelope.
            return False
        self._keys_this_run.add(key)
        self.fetched += 1
        if self.cursor.seen.get(key) == content_fingerprint:
            self.unchanged += 1
            return False
        return True

    def emit(self, envelope: RawPost | RawPage, content_fingerprint: str) -> None:
        self.envelopes.append(envelope)
        self.update.seen[_seen_key(envelope.key, isinstance(envelope, RawPage))] = content_fingerprint

    # ------------------------------------------------------------------ fetching

    def fetch_source_if_changed(self, *, check_robots: bool = False) -> FetchResult | None:
        """The configured URL, conditionally: None when it failed (dead-lettered) or is unchanged (304)."""
        result = self.fetch(self.source.url, trusted=self.source.local, conditional=True, check_robots=check_robots)
        if result is None:
            return None
        if result.not_modified:
            self.not_modified = True
            return None
        return result

    def fetch(
        self,
        url: str,
        *,
        trusted: bool,
        conditional: bool = False,
        check_robots: bool = False,
        extra_headers: dict[str, str] | None = None,
        dead_letter_errors: bool = True,
    ) -> FetchResult | None:
        """Fetch through the shared Fetcher; a failure becomes a dead letter and None.

        Whatever the caller says, only a `local = true` source's own file or own origin is
        exempt from the refusal of this machine and private networks (DESIGN.md §6).
        """
        self.requests += 1
        etag = self.cursor.etag if conditional else None
        last_modified = self.cursor.last_modified if conditional else None
        try:
            if url.startswith("file://"):
                # Decided before any I/O: a refused file is never opened, so none of its
                # bytes can reach an envelope, a dead letter or a log line.
                self._check_own_file(url)
                return self._read_file(url, etag)
            return self.fetcher.fetch(
                url,
                trusted=trusted and self.source.local and same_origin(url, self.source.url),
                etag=etag,
                last_modified=last_modified,
                check_robots=check_robots,
                extra_headers=extra_headers,
            )
        except FetchError as caught:
            exc = self._explain_refusal(caught)
            if not dead_letter_errors:
                raise exc from None
            self.errors += 1
            self.dead_letter("fetch", describe_fetch_error(exc), url=url, error=exc)
        return None

    def _check_own_file(self, url: str) -> None:
        if not self.source.local:
            raise FetchError("unsafe-url", url, "file:// source needs local = true")
        # Query and fragment do not change the file read (a connector adds paging parameters).
        wanted, own = urlsplit(url), urlsplit(self.source.url)
        if not self.source.url.startswith("file://") or (wanted.netloc, wanted.path) != (own.netloc, own.path):
            raise FetchError("unsafe-url", url, "file:// url is not this source's own file; only that is exempt")

    def _explain_refusal(self, exc: FetchError) -> FetchError:
        """Say what to change when the source's own address was refused as non-public."""
        if exc.reason != "unsafe-url" or self.source.local or not same_origin(exc.url, self.source.url):
            return exc
        detail = f"{exc.detail} (a source on this machine or a private network needs local = true)"
        return FetchError(exc.reason, exc.url, detail, status=exc.status, retryable=exc.retryable)

    def _read_file(self, url: str, etag: str | None) -> FetchResult:
        # Only after _check_own_file: links never get here (the syntax check refuses
        # non-http schemes), so this is the configured file of a local source.
        path = Path(unquote(urlsplit(url).path))
        try:
            stat = path.stat()
        except OSError as exc:
            raise FetchError("connection", url, f"cannot read file ({exc.strerror})") from None
        validator = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        headers = {"content-type": mimetypes.guess_type(path.name)[0] or "application/octet-stream"}
        headers["etag"] = validator
        if etag == validator:
            return FetchResult(url, url, 304, headers, b"", None, (), True, 0.0)
        if stat.st_size > self.fetch_settings.max_bytes:
            raise FetchError("too-large", url, f"file exceeds {self.fetch_settings.max_bytes} bytes")
        with open(path, "rb") as handle:
            body = handle.read(self.fetch_settings.max_bytes + 1)
        return FetchResult(url, url, 200, headers, body, None, (), False, 0.0)

    # ------------------------------------------------------------------ provenance

    def provenance(self, result: FetchResult, decoded: DecodedText | None = None) -> Fetch:
        headers = result.headers
        encoding = None
        if decoded is not None:
            encoding = f"{decoded.encoding} ({decoded.source}{', repaired' if decoded.repaired else ''})"
        return Fetch(
            requested_url=result.requested_url,
            final_url=result.final_url,
            status=result.status,
            fetched_at=self.clock(),
            content_type=headers.get("content-type"),
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            encoding=encoding,
            redirects=result.redirects,
        )

    def remember_validators(self, result: FetchResult) -> None:
        """Keep ETag/Last-Modified of the source URL for the next conditional request."""
        self.update.etag = result.headers.get("etag") or self.update.etag
        self.update.last_modified = result.headers.get("last-modified") or self.update.last_modified


def _seen_key(key: str, page: bool) -> str:
    return page_item_id(key) if page else key


def token_from_env(token_env: str | None) -> str | None:
    """The bearer token named by `token_env`; an empty name or value means none."""
    if not token_env:
        return None
    value = os.environ.get(token_env, "").strip()
    # Read at use time, so a token set after the configuration was loaded is masked as well.
    register_secret(value)
    return value or None
