"""URL syntax and address rules of infra.urlsafety (pure, no sockets)."""

from __future__ import annotations

import pickle

import pytest

from infra.urlsafety import FetchError, check_url_syntax, is_public_address, same_origin

UNSAFE_URLS = {
    "file-scheme": "file:///etc/passwd",
    "gopher-scheme": "gopher://127.0.0.1:70/_GET",
    "ftp-scheme": "ftp://example.com/x",
    "javascript-scheme": "javascript:alert(1)",
    "data-scheme": "data:text/html,<script>alert(1)</script>",
    "no-scheme": "//example.com/",
    "decimal-ipv4": "http://2130706433/",
    "hex-ipv4": "http://0x7f000001/",
    "octal-ipv4": "http://017700000001/",
    "short-ipv4": "http://127.1/",
    "octal-dotted-ipv4": "http://0177.0.0.1/",
    "leading-zero-octet": "http://127.0.0.01/",
    "mixed-hex-dotted": "http://0x7f.0.0.1/",
    "five-part-ipv4": "http://1.2.3.4.5/",
    "ipv4-mapped-ipv6": "http://[::ffff:127.0.0.1]/",
    "ipv4-mapped-ipv6-hex": "http://[::ffff:7f00:1]/",
    "ipv4-compatible-ipv6": "http://[::127.0.0.1]/",
    "ipv6-zone-id": "http://[fe80::1%25eth0]/",
    "userinfo-trick": "http://good.com@127.0.0.1/",
    "userinfo-empty": "http://@127.0.0.1/",
    "backslash-trick": "http://good.com\\@127.0.0.1/",
    "newline-in-url": "http://example.com/\r\nX-Injected: 1",
    "space-in-host": "http://exa mple.com/",
    "percent-in-host": "http://%31%32%37.0.0.1/",
    "bad-port": "http://example.com:99999/",
    "port-zero": "http://example.com:0/",
    "empty-host": "http:///path",
}


@pytest.mark.parametrize("url", UNSAFE_URLS.values(), ids=UNSAFE_URLS.keys())
def test_unsafe_spelling_rejected(url: str) -> None:
    with pytest.raises(FetchError) as exc_info:
        check_url_syntax(url)
    assert exc_info.value.reason == "unsafe-url"
    assert "\n" not in str(exc_info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM/a b?q=é#frag", "http://example.com/a%20b?q=%C3%A9"),
        ("https://example.com:443/", "https://example.com/"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com.:8080/x", "http://example.com:8080/x"),
        ("http://[2606:4700:4700:0::1111]/", "http://[2606:4700:4700::1111]/"),
        ("http://例え.jp/", "http://xn--r8jz45g.jp/"),
        ("http://127.0.0.1:8080/feed", "http://127.0.0.1:8080/feed"),
    ],
    ids=["case-and-quoting", "default-port", "empty-path", "trailing-dot", "ipv6", "idna", "dotted-quad"],
)
def test_normalised_form(url: str, expected: str) -> None:
    assert check_url_syntax(url).url == expected


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1%eth0",
        "fd00:ec2::254",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",
        "64:ff9b::a9fe:a9fe",
        "::7f00:1",
        "2001:db8::1",
        "not-an-ip",
    ],
    ids=[
        "loopback",
        "private-10",
        "private-172",
        "private-192",
        "metadata",
        "cgnat",
        "unspecified-v4",
        "multicast-v4",
        "broadcast",
        "loopback-v6",
        "unspecified-v6",
        "link-local-v6-scoped",
        "unique-local-metadata-v6",
        "unique-local",
        "multicast-v6",
        "mapped-loopback",
        "mapped-metadata",
        "6to4-loopback",
        "nat64-metadata",
        "v4-compatible",
        "documentation",
        "garbage",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::"]
)
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("http://example.com/a", "http://EXAMPLE.com:80/b?x", True),
        ("http://example.com/", "https://example.com/", False),
        ("http://example.com:8080/", "http://example.com/", False),
        ("http://example.com/", "http://sub.example.com/", False),
        ("http://127.0.0.1:1/", "http://2130706433:1/", False),
    ],
    ids=["same", "scheme-differs", "port-differs", "host-differs", "unsafe-never-same"],
)
def test_same_origin(a: str, b: str, expected: bool) -> None:
    assert same_origin(a, b) is expected


def test_fetch_error_is_one_line_and_pickles() -> None:
    error = FetchError("http-error", "http://example.com/a\r\nb", "HTTP 503\nretry", status=503, retryable=True)
    assert "\n" not in str(error) and "\r" not in str(error)
    assert str(error).startswith("http-error: HTTP 503")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.url, copy.status, copy.retryable, str(copy)) == (
        "http-error",
        error.url,
        503,
        True,
        str(error),
    )
