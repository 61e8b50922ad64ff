"""connectors.encoding: declarations are believed only as far as they hold."""

from __future__ import annotations

import random

import pytest

from connectors.encoding import DecodedText, decode_text
from connectors.fetch import FetchError

ZH = "机器之心报道：研究人员发布了新的开源大模型，在多项基准测试中取得领先成绩。"
ZH_NOT_IN_GB2312 = "朱镕基与喆、堃、瑢等字不在 GB2312 中，但在 GBK 与 GB18030 中。"
FR = "Le café crème coûte très cher à Genève, déjà « trop » pour l'élève."


def html(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head>{head}<title>t</title></head><body><p>{body}</p></body></html>"


def test_utf8_bom_beats_wrong_header() -> None:
    body = b"\xef\xbb\xbf" + html(ZH).encode("utf-8")
    result = decode_text(body, content_type="text/html; charset=ISO-8859-1", kind="html")
    assert (result.source, result.encoding) == ("bom", "utf-8")
    assert ZH in result.text
    assert not result.text.startswith("\ufeff")


def test_utf16_bom() -> None:
    body = "\ufeff".encode("utf-16-le") + ZH.encode("utf-16-le")
    result = decode_text(body, content_type=None, kind="text")
    assert (result.text, result.source) == (ZH, "bom")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(FR, "cp1252"), ("Das Mädchen läuft über die Straße, größer als ihr Bruder.", "latin-1")],
    ids=["french-cp1252", "german-latin1"],
)
def test_undeclared_western_text_read_as_windows_1252(text: str, encoding: str) -> None:
    result = decode_text(text.encode(encoding), content_type=None, kind="text")
    assert (result.text, result.encoding) == (text, "windows-1252")


def test_header_charset_used_when_it_decodes() -> None:
    result = decode_text(FR.encode("cp1252"), content_type="text/plain; charset=windows-1252", kind="text")
    assert (result.text, result.source, result.encoding) == (FR, "header", "windows-1252")


def test_gbk_declared_as_utf8_falls_through_to_detection() -> None:
    body = html(ZH * 3, '<meta charset="utf-8">').encode("gbk")
    result = decode_text(body, content_type="text/html; charset=utf-8", kind="html")
    assert result.source == "detected"
    assert result.encoding == "gb18030"
    assert ZH in result.text


@pytest.mark.parametrize(
    ("head", "source"),
    [
        ('<meta charset="gb2312">', "meta"),
        ('<meta http-equiv="Content-Type" content="text/html; charset=GB2312">', "meta"),
        ("<meta charset='x-gbk'>", "meta"),
    ],
    ids=["meta-charset", "meta-http-equiv", "meta-x-gbk"],
)
def test_gb2312_label_read_as_gb18030(head: str, source: str) -> None:
    body = html(ZH_NOT_IN_GB2312, head).encode("gb18030")
    result = decode_text(body, content_type="text/html", kind="html")
    assert (result.source, result.encoding) == (source, "gb18030")
    assert "镕" in result.text and "喆" in result.text


def test_gb2312_header_read_as_gb18030() -> None:
    body = ZH_NOT_IN_GB2312.encode("gb18030")
    result = decode_text(body, content_type="text/plain; charset=gb2312", kind="text")
    assert (result.text, result.source, result.encoding) == (ZH_NOT_IN_GB2312, "header", "gb18030")


def test_source_side_mojibake_repaired() -> None:
    # The publisher decoded UTF-8 as Latin-1 and re-encoded as UTF-8.
    body = "机器之心 发布".encode().decode("latin-1").encode("utf-8")
    result = decode_text(body, content_type="text/plain; charset=utf-8", kind="text")
    assert result.text == "机器之心 发布"
    assert result.repaired is True


def test_example_mojibake_repaired() -> None:
    result = decode_text("æœºå™¨ä¹‹å¿ƒ".encode(), content_type="text/plain; charset=utf-8", kind="text")
    assert result.text == "机器之心"
    assert result.repaired


def test_utf8_labelled_latin1_decoded_as_utf8() -> None:
    # Servers defaulting to ISO-8859-1 is the classic mislabel.
    body = html(ZH).encode("utf-8")
    result = decode_text(body, content_type="text/html; charset=ISO-8859-1", kind="html")
    assert ZH in result.text
    assert result.encoding == "utf-8"


def test_real_latin1_kept_as_declared() -> None:
    body = html(FR).encode("latin-1")
    result = decode_text(body, content_type="text/html; charset=iso-8859-1", kind="html")
    assert FR in result.text
    assert (result.source, result.repaired) == ("header", False)


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("iso-8859-1", FR), ("GB2312", ZH), ("windows-1251", "Новости искусственного интеллекта")],
    ids=["latin1", "gb2312", "cp1251"],
)
def test_xml_prolog_encoding(encoding: str, text: str) -> None:
    xml = f'<?xml version="1.0" encoding="{encoding}"?>\n<rss><channel><title>{text}</title></channel></rss>'
    result = decode_text(xml.encode("gb18030" if encoding == "GB2312" else encoding), content_type=None, kind="xml")
    assert result.source == "prolog"
    assert text in result.text


def test_prolog_claiming_utf16_on_ascii_bytes_means_utf8() -> None:
    xml = f'<?xml version="1.0" encoding="UTF-16"?><rss><title>{ZH}</title></rss>'
    result = decode_text(xml.encode("utf-8"), content_type="application/xml", kind="xml")
    assert ZH in result.text


def test_undeclared_utf8_chinese_html_detected() -> None:
    result = decode_text(html(ZH).encode("utf-8"), content_type="text/html", kind="html")
    assert (result.source, result.encoding) == ("detected", "utf-8")
    assert ZH in result.text


def test_undeclared_gbk_detected() -> None:
    result = decode_text((ZH * 2).encode("gbk"), content_type=None, kind="text")
    assert result.text == ZH * 2
    assert result.source == "detected"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html; charset=base64",
        "text/html; charset=zlib_codec",
        "text/html; charset=utf-7",
        "text/html; charset=nonsense",
    ],
    ids=["base64", "zlib", "utf-7", "unknown"],
)
def test_dangerous_or_unknown_labels_ignored(content_type: str) -> None:
    result = decode_text(html(ZH).encode("utf-8"), content_type=content_type, kind="html")
    assert ZH in result.text
    assert result.source == "detected"


def test_html_entities_and_quotes_untouched() -> None:
    text = "&amp; &lt;b&gt; “curly” ﬁ ｆｕｌｌ\r\n"
    assert decode_text(text.encode(), content_type="text/plain; charset=utf-8", kind="text").text == text


def test_json_default_utf8() -> None:
    body = f'{{"title": "{ZH}"}}'.encode()
    result = decode_text(body, content_type="application/json", kind="json")
    assert ZH in result.text


MISLABELLED = {
    "gbk-as-utf8": (ZH.encode("gbk"), "text/html; charset=utf-8", "html"),
    "gb18030-as-latin1": (ZH.encode("gb18030") * 2, "text/plain; charset=iso-8859-1", "text"),
    "big5-as-utf8": (
        "機器之心報導：研究人員發布了新的開源大模型。".encode("big5") * 2,
        "text/plain; charset=utf-8",
        "text",
    ),
    "utf8-as-gbk": (ZH.encode("utf-8"), "text/plain; charset=gbk", "text"),
    "utf8-as-ascii": (ZH.encode("utf-8"), "text/plain; charset=us-ascii", "text"),
    "latin1-as-utf8": (FR.encode("latin-1"), "text/plain; charset=utf-8", "text"),
    "cp1252-meta-utf8": (html(FR, '<meta charset="utf-8">').encode("cp1252"), None, "html"),
    "sjis-as-utf8": (
        "人工知能の研究者が新しいモデルを発表しました。".encode("shift_jis") * 2,
        "text/plain; charset=utf-8",
        "text",
    ),
    "utf16-with-bom-as-utf8": ZH.encode("utf-16"),
}


@pytest.mark.parametrize("name", MISLABELLED.keys())
def test_mislabelled_valid_text_never_contains_replacement_char(name: str) -> None:
    case = MISLABELLED[name]
    body, content_type, kind = case if isinstance(case, tuple) else (case, "text/plain; charset=utf-8", "text")
    result = decode_text(body, content_type=content_type, kind=kind)  # type: ignore[arg-type]
    assert isinstance(result, DecodedText)
    assert "\ufffd" not in result.text


def test_mostly_utf8_with_corrupt_byte_keeps_text() -> None:
    body = (ZH * 20).encode("utf-8")
    body = body[:100] + b"\xff" + body[100:]
    result = decode_text(body, content_type="text/plain; charset=utf-8", kind="text")
    assert ZH in result.text


def test_binary_body_is_bad_encoding() -> None:
    noise = random.Random(7).randbytes(4096)
    with pytest.raises(FetchError) as exc_info:
        decode_text(noise, content_type="text/html", kind="html", url="http://example.com/x")
    assert exc_info.value.reason == "bad-encoding"


def test_empty_body() -> None:
    result = decode_text(b"", content_type=None, kind="xml")
    assert result.text == ""
