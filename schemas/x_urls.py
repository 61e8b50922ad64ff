"""Links to posts on X, built only from parts X itself could have issued.

A handle or id comes from an API page, a replayed envelope or the store, so it may
hold anything (`<script>`, `../`, `?`); pasted into a URL it would change what the
link points at or carry markup into the digest. One place decides what is valid.
"""

from __future__ import annotations

import re

__all__ = ["is_x_handle", "is_x_post_id", "x_status_url"]

# X usernames: 1-15 letters, digits or underscores.
_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
# Post ids are unsigned 64-bit snowflakes; ASCII only (str.isdigit accepts "١٢٣").
_POST_ID = re.compile(r"[0-9]{1,20}")


def is_x_handle(value: str | None) -> bool:
    return value is not None and _HANDLE.fullmatch(value) is not None


def is_x_post_id(value: str | None) -> bool:
    return value is not None and _POST_ID.fullmatch(value) is not None


def x_status_url(handle: str | None, post_id: str | None) -> str | None:
    """`https://x.com/<handle>/status/<id>`, or None when either part is not valid."""
    if not is_x_handle(handle) or not is_x_post_id(post_id):
        return None
    return f"https://x.com/{handle}/status/{post_id}"
