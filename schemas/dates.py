"""Dates as sources write them: one parser for the connectors and the stages alike.

RFC 822/2822 (feeds), ISO 8601 (Atom, X, the arXiv API), arXiv listings and CJK forms. What a
date without an offset means is each caller's decision, made explicit: normalize reads it as UTC
(`ParsedDate.utc`, offset None); connectors keep only dates with an offset (`ParsedDate.aware`).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import NamedTuple

__all__ = ["ParsedDate", "parse_aware", "parse_date"]


class ParsedDate(NamedTuple):
    """An instant in UTC, and the offset the source wrote it with (None when it wrote none)."""

    utc: datetime
    offset_minutes: int | None

    @property
    def aware(self) -> datetime | None:
        """The instant in the offset the source wrote, or None when it wrote none: what connectors
        put in typed fields, where a guessed zone would pass for the source's own."""
        if self.offset_minutes is None:
            return None
        return self.utc.astimezone(timezone(timedelta(minutes=self.offset_minutes)))


_STRPTIME_FORMATS = (
    "%d %b %Y",  # arXiv listings: "14 Apr 2026"
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b. %d, %Y",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y.%m.%d",
)
_CJK_DATE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(?:(\d{1,2})\s*[:：时]\s*(\d{1,2})\s*分?)?$")
_SUBMITTED = re.compile(r"^(?:submitted|published|posted|updated)\s*(?:on)?\s*:?\s*", re.IGNORECASE)


def parse_date(value: str | None) -> ParsedDate | None:
    """RFC 822/2822 (feeds), ISO 8601 (Atom, X, arXiv API), arXiv listing and CJK forms.

    A date without an offset is taken as UTC and reported with offset None.
    """
    if not value:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    text = _SUBMITTED.sub("", text).strip()
    if not text:
        return None
    parsed = _parse_iso(text) or _parse_rfc822(text) or _parse_other(text)
    if parsed is None:
        return None
    offset = parsed.utcoffset()
    if offset is None:
        return ParsedDate(parsed.replace(tzinfo=UTC), None)
    return ParsedDate(parsed.astimezone(UTC), int(offset.total_seconds() // 60))


def _parse_iso(text: str) -> datetime | None:
    if not text[:4].isdigit():
        return None
    candidate = text.replace(" ", "T", 1) if len(text) > 10 and text[10] == " " else text
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        return None


# The spelling nearly every feed uses ("Mon, 13 Apr 2026 09:30:00 +0800"), read without the
# email package's general tokenizer (a third of normalize's time on a feed entry).
_RFC822_COMMON = re.compile(
    r"(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?\s+([+-])(\d{2})(\d{2})"
)
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}  # fmt: skip


def _parse_rfc822(text: str) -> datetime | None:
    common = _RFC822_COMMON.fullmatch(text)
    if common is not None:
        day, month_name, year, hour, minute, second, sign, off_h, off_m = common.groups()
        month = _MONTHS.get(month_name.lower())
        # The email package reads years below 100 as two-digit years: leave those to it.
        if month is not None and int(year) >= 100:
            minutes = int(off_h) * 60 + int(off_m)
            try:
                # "-0000" means "offset unknown" (RFC 2822 3.3): naive, as the email package reads it.
                signed = -minutes if sign == "-" else minutes
                tz = None if sign == "-" and minutes == 0 else timezone(timedelta(minutes=signed))
                return datetime(int(year), month, int(day), int(hour), int(minute), int(second or 0), tzinfo=tz)
            except ValueError:
                pass  # the general parser below decides what an impossible date means
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    # RFC 2822 "-0000" means "offset unknown"; Python then returns a naive datetime.
    return parsed


def _parse_other(text: str) -> datetime | None:
    match = _CJK_DATE.match(text)
    if match:
        year, month, day, hour, minute = match.groups()
        try:
            return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
        except ValueError:
            return None
    for fmt in _STRPTIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def parse_aware(value: str | None) -> datetime | None:
    """The date with the offset its source wrote; None when unparsable or written without one."""
    parsed = parse_date(value)
    return parsed.aware if parsed is not None else None
