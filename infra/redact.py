"""Configured secret values never reach a log line or an error message (DESIGN.md §5).

The configuration registers every secret it holds (`llm.api_key`, `kafka.sasl_password`,
the X bearer tokens named by `token_env`, webhook signing secrets) as it is validated;
`mask_secrets` replaces each with `***` in any text. Log records are masked when they
are created (a LogRecord factory), so every handler sees the masked text whoever added
it (the CLI, Prefect, pytest's caplog) and whatever produced the message: an HTTP
server echoing the Authorization header in its reason phrase, an exception's text, a
traceback. The CLI also puts `SecretMaskingFilter` on its handlers, for records that
are rebuilt from a dict (`logging.makeLogRecord`) and so skip the factory.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from types import TracebackType
from typing import Any
from urllib.parse import quote

__all__ = [
    "MASK",
    "SecretMaskingFilter",
    "install_masking_excepthook",
    "mask_secrets",
    "register_secret",
]

MASK = "***"
# Masking a one- to three-character value would garble every log line it occurs in by chance,
# and a value that short protects nothing.
_MIN_SECRET_CHARS = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_factory_installed = False


def register_secret(value: object) -> None:
    """Mask `value` (a str or pydantic SecretStr; None and empty are ignored) from now on."""
    global _pattern
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if not isinstance(value, str) or len(value.strip()) < _MIN_SECRET_CHARS:
        return
    value = value.strip()
    # The spellings a secret takes when it lands in a URL or a JSON document.
    variants = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
    with _lock:
        if variants <= _secrets:
            return
        _secrets.update(variants)
        # Longest first, so a secret that contains another is masked whole.
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))
    _install_record_factory()


def mask_secrets(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def _mask_record(record: logging.LogRecord) -> None:
    if _pattern is None:
        return
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string; logging would print msg and args raw
        message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = mask_secrets(message), ()
    else:
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, ()
    if record.exc_info and record.exc_info[1] is not None:
        text = record.exc_text or "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        masked = mask_secrets(text)
        if masked != text:
            # Formatters print exc_text when exc_info is gone; handlers that render exc_info
            # themselves (rich) would otherwise show the unmasked exception text.
            record.exc_text, record.exc_info = masked, None
    elif record.exc_text:
        record.exc_text = mask_secrets(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_secrets(record.stack_info)


def _install_record_factory() -> None:
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _mask_record(record)
            return record

        logging.setLogRecordFactory(masking_factory)
        _factory_installed = True


class SecretMaskingFilter(logging.Filter):
    """For handlers: masks records that did not come from the factory; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        _mask_record(record)
        return True


def _masking_excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(mask_secrets("".join(traceback.format_exception(exc_type, exc, tb))))


def install_masking_excepthook() -> None:
    """Tracebacks that end the process (`--debug`) are masked too."""
    sys.excepthook = _masking_excepthook
