"""URL and address checks that decide whether the fetcher may talk to a target.

Pure functions, no I/O. The syntax check rejects spellings that resolvers read
differently from humans (``http://2130706433/`` is 127.0.0.1 to glibc); the
address check is applied by `connectors.fetch` to the peer actually connected to.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urljoin, urlsplit

__all__ = [
    "join_url",
    "FetchError",
    "FetchReason",
    "ParsedTarget",
    "check_url_syntax",
    "is_public_address",
    "same_origin",
]

FetchReason = Literal[
    "unsafe-url",
    "too-large",
    "timeout",
    "http-error",
    "connection",
    "bad-encoding",
    "robots-disallowed",
    "redirect-loop",
]

# CR/LF in a URL would split the request line (header injection); tab and other
# C0 characters are never legitimate either.
_C0_OR_DEL = re.compile(r"[\x00-\x1f\x7f]")


class FetchError(Exception):
    """A fetch that did not produce a usable response; `reason` is a stable short code.

    Defined here rather than in `connectors.fetch` because that module imports this
    one; `connectors.fetch` re-exports it and is the name callers should use.
    """

    def __init__(
        self,
        reason: FetchReason,
        url: str = "",
        detail: str = "",
        *,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        self.reason: FetchReason = reason
        self.url = url
        self.detail = detail
        self.status = status
        self.retryable = retryable
        # One line, whatever the URL or server message contained.
        message = reason + (f": {detail}" if detail else "") + (f" [{url}]" if url else "")
        super().__init__(_C0_OR_DEL.sub(" ", message))

    def __reduce__(self) -> tuple[type[FetchError], tuple[str, str, str], dict[str, object]]:
        # Exceptions pickle as cls(*args); keep the fields when one crosses a process
        # boundary (Beam workers, Prefect task results).
        return (type(self), (self.reason, self.url, self.detail), {"status": self.status, "retryable": self.retryable})


@dataclass(frozen=True)
class ParsedTarget:
    """A URL that passed the syntax check, in the normalised form the fetcher uses."""

    url: str
    scheme: Literal["http", "https"]
    host: str  # lower-case ASCII (IDNA) name, dotted quad, or IPv6 without brackets
    port: int
    request_target: str  # path and query, ASCII, as sent on the request line
    ip_literal: bool

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def netloc(self) -> str:
        return _netloc(self.scheme, self.host, self.port)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _netloc(scheme: str, host: str, port: int) -> str:
    bracketed = f"[{host}]" if ":" in host else host
    return bracketed if port == _DEFAULT_PORTS[scheme] else f"{bracketed}:{port}"


_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_DECIMAL_OCTET = re.compile(r"^(?:0|[1-9][0-9]{0,2})$")
# RFC 3986 characters that may stay literal in path and query; everything else
# (non-ASCII, spaces that slipped through quoting) is percent-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def _unsafe(url: str, detail: str) -> FetchError:
    return FetchError("unsafe-url", url, detail)


def _looks_numeric(label: str) -> bool:
    # WHATWG URL "ends in a number": such hosts are parsed as IPv4 by browsers and
    # by inet_aton, in decimal, octal or hex, with 1 to 4 parts.
    if label.isascii() and label.isdigit():
        return True
    lowered = label.lower()
    return lowered.startswith("0x") and all(c in "0123456789abcdef" for c in lowered[2:])


def _normalise_host(raw_host: str, url: str) -> tuple[str, bool]:
    if raw_host.startswith("["):
        if not raw_host.endswith("]"):
            raise _unsafe(url, "malformed IPv6 literal")
        literal = raw_host[1:-1]
        if "%" in literal:
            raise _unsafe(url, "IPv6 zone identifiers are not allowed")
        try:
            address = ipaddress.IPv6Address(literal)
        except ValueError:
            raise _unsafe(url, "malformed IPv6 literal") from None
        if address.ipv4_mapped is not None:
            raise _unsafe(url, "IPv4-mapped IPv6 literals are not allowed")
        if address in _IPV4_COMPATIBLE and address not in (_V6_UNSPECIFIED, _V6_LOOPBACK):
            raise _unsafe(url, "IPv4-compatible IPv6 literals are not allowed")
        return address.compressed, True

    host = raw_host.lower()
    if host.endswith("."):
        # A single trailing dot names the same host (FQDN form); strip it so
        # origins compare equal.
        host = host[:-1]
    if not host:
        raise _unsafe(url, "empty host")
    labels = host.split(".")
    if _looks_numeric(labels[-1]):
        if len(labels) != 4 or not all(_DECIMAL_OCTET.match(p) and int(p) <= 255 for p in labels):
            raise _unsafe(url, f"non-canonical IPv4 spelling {raw_host!r}")
        return str(ipaddress.IPv4Address(host)), True
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _unsafe(url, "host is not a valid internationalised name") from None
        labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise _unsafe(url, f"invalid host name {raw_host!r}")
    return host, False


def check_url_syntax(url: str) -> ParsedTarget:
    """Parse `url` and reject anything but a plainly spelled http(s) URL.

    Raises FetchError(reason="unsafe-url") for other schemes, userinfo, odd IPv4
    spellings, IPv4-mapped or zone-scoped IPv6 literals, control characters, and
    any host character outside LDH/underscore (which also catches the backslash
    of "good.com\\@evil", read as "/" by browsers but not by urlsplit).
    """
    url = url.strip(" ") if isinstance(url, str) else ""
    if not url:
        raise _unsafe(url, "empty URL")
    if _C0_OR_DEL.search(url):
        raise _unsafe(url, "URL contains control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _unsafe(url, f"unparsable URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _unsafe(url, f"scheme {scheme or '(none)'!r} is not http or https")
    netloc = parts.netloc
    if not netloc:
        raise _unsafe(url, "URL has no host")
    if "@" in netloc:
        raise _unsafe(url, "credentials in the URL (userinfo) are not allowed")

    if netloc.startswith("["):
        close = netloc.find("]")
        if close < 0:
            raise _unsafe(url, "malformed IPv6 literal")
        raw_host, rest = netloc[: close + 1], netloc[close + 1 :]
        if rest and not rest.startswith(":"):
            raise _unsafe(url, "garbage after IPv6 literal")
        port_text = rest[1:] if rest else ""
    else:
        raw_host, sep, port_text = netloc.rpartition(":")
        if not sep:
            raw_host, port_text = netloc, ""
    if ":" in raw_host and not raw_host.startswith("["):
        raise _unsafe(url, f"malformed host {raw_host!r}")
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _unsafe(url, f"invalid port {port_text!r}")
        port = int(port_text)
    else:
        port = _DEFAULT_PORTS[scheme]

    host, ip_literal = _normalise_host(raw_host, url)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    request_target = path + ("?" + quote(parts.query, safe=_QUERY_SAFE) if parts.query else "")
    scheme_literal: Literal["http", "https"] = "https" if scheme == "https" else "http"
    return ParsedTarget(
        url=f"{scheme}://{_netloc(scheme, host, port)}{request_target}",
        scheme=scheme_literal,
        host=host,
        port=port,
        request_target=request_target,
        ip_literal=ip_literal,
    )


_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_V6_UNSPECIFIED = ipaddress.IPv6Address("::")
_V6_LOOPBACK = ipaddress.IPv6Address("::1")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(ip: str) -> bool:
    """True only for a globally routable unicast address.

    `ipaddress.is_global` alone is not enough on Python 3.11: it calls multicast
    and 6to4 (2002::/16, which tunnels to the embedded IPv4 address) global.
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(str(embedded))
        if address in _IPV4_COMPATIBLE or address.teredo is not None:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


def same_origin(a: str, b: str) -> bool:
    """True when both URLs are valid http(s) URLs with the same scheme, host and port."""
    try:
        return check_url_syntax(a).origin == check_url_syntax(b).origin
    except FetchError:
        return False


def join_url(base: str, link: str) -> str:
    """`urljoin` that reports a malformed link as an unsafe URL instead of a bare ValueError.

    urllib raises ValueError for links like "http://[::1/x" or a port over 65535; a connector
    must treat that as one bad link (recorded, dead-lettered), not a failed source.
    """
    try:
        joined = urljoin(base, link)
        urlsplit(joined).port  # noqa: B018 - validates the port, which urljoin does not
    except ValueError as exc:
        raise FetchError("unsafe-url", link[:200], f"malformed URL: {exc}") from None
    return joined
