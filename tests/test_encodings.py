"""Encodings (issue 18, items 11 and 12, Build 2).

augmenter reads what libvirt reads and can write back unchanged: UTF-8, UTF-16 and UTF-32 (by
their byte order mark), US-ASCII and the single-byte ASCII-based charsets (ISO-8859-n,
Windows-125n, KOI8). Anything else (UTF-7, EBCDIC, ISO-2022, odd UCS-4 byte orders) is refused
with one clear line before any limit is checked, and the limits count the decoded text.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hardening import EMBEDDED, assert_clean_end, probe
from lxml import etree

import augmenter
from augmenter.pipeline import Options

EMBEDDED_ONLY = Options(boards="embedded")
BODY = ("<domain type='kvm'>\n  <name>caf\u00e9</name>\n  <memory>65536</memory>\n"
        "  <os><type arch='x86_64' "
        "machine='q35'>hvm</type></os>\n  <devices>\n    <interface type='user'><model "
        "type='virtio'/></interface>\n  </devices>\n</domain>\n")


def _declared(encoding: str, body: str = BODY) -> str:
    return f"<?xml version='1.0' encoding='{encoding}'?>\n{body}"


def _utf7() -> bytes:
    return _declared("UTF-7").encode("utf-7")


REFUSALS: dict[str, bytes] = {
    "utf-7": _utf7(),
    "utf-7-2M-elements": _declared("UTF-7", BODY.replace(
        "<devices>", "<devices>" + "<x/>" * 2_100_000)).encode("utf-7"),
    "ebcdic-declared": _declared("IBM037").encode("cp037"),
    "ebcdic-500-declared": _declared("IBM500").encode("cp500"),
    "iso-2022-jp": _declared("ISO-2022-JP").replace("caf\u00e9", "\u65e5\u672c").encode(
        "iso2022_jp"),
    "ucs4-2143": b"\x00\x00\x3c\x00" + "?xml".encode("utf-32-le"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_an_encoding_augmenter_cannot_write_back_is_refused(name: str, tmp_path: Path) -> None:
    (tmp_path / "g.xml").write_bytes(REFUSALS[name])
    m = probe([*EMBEDDED, "g.xml"], tmp_path)
    assert_clean_end(m, codes=(1,))
    assert len(m.stderr_lines) == 1 and "encoding" in m.stderr, m.stderr
    assert m.wall < 5 and m.maxrss_kb < 300 * 1024, (m.wall, m.maxrss_kb)


# name -> (the codec after the byte order mark, the document)
READ: dict[str, tuple[str, bytes]] = {
    "utf-8": ("utf-8", _declared("UTF-8").encode()),
    "utf-8-bom": ("utf-8", codecs.BOM_UTF8 + BODY.encode()),
    "us-ascii": ("ascii", _declared("US-ASCII", BODY.replace("\u00e9", "e")).encode("ascii")),
    "latin-1": ("latin-1", _declared("ISO-8859-1").encode("latin-1")),
    "latin-9": ("iso8859-15", _declared("ISO-8859-15").replace("caf\u00e9", "\u20ac5")
                .encode("iso8859-15")),
    "windows-1252": ("cp1252", _declared("windows-1252").replace("caf\u00e9", "\u201ccaf\u00e9"
                                                                  "\u201d").encode("cp1252")),
    "koi8-r": ("koi8-r", _declared("KOI8-R").replace("caf\u00e9", "\u0434\u043e\u043c")
               .encode("koi8-r")),
    "utf-16-le-bom": ("utf-16-le", codecs.BOM_UTF16_LE + _declared("UTF-16").encode(
        "utf-16-le")),
    "utf-16-be-bom": ("utf-16-be", codecs.BOM_UTF16_BE + _declared("UTF-16").encode(
        "utf-16-be")),
    "utf-32-le-bom": ("utf-32-le", codecs.BOM_UTF32_LE + BODY.encode("utf-32-le")),
    "utf-32-be-bom": ("utf-32-be", codecs.BOM_UTF32_BE + BODY.encode("utf-32-be")),
}


BOMS = {"utf-8": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE, "utf-32-le": codecs.BOM_UTF32_LE,
        "utf-32-be": codecs.BOM_UTF32_BE}


@pytest.mark.parametrize("name", sorted(READ))
def test_an_encoding_libvirt_reads_comes_back_in_the_same_encoding(name: str) -> None:
    codec, data = READ[name]
    out = augmenter.run(data, EMBEDDED_ONLY).to_bytes()
    head = data[:data.index("<domain".encode(codec))]  # BOM and declaration
    assert out.startswith(head)
    before, after = etree.fromstring(data), etree.fromstring(out)
    assert after.findtext("name") == before.findtext("name")
    assert after.find("devices/interface/address") is not None
    bom = BOMS.get(codec, b"") if data.startswith(BOMS.get(codec, b"\x01")) else b""
    assert out[len(bom):].decode(codec).encode(codec) == out[len(bom):]


def test_the_limits_count_characters_not_bytes(tmp_path: Path) -> None:
    """In UTF-16, U+3C3C is two '<' bytes: 600,000 of them are 600,000 characters of text."""
    body = BODY.replace("caf\u00e9", "\u3c3c" * 600_000)
    data = codecs.BOM_UTF16_LE + body.encode("utf-16-le")
    assert data.count(b"<") > 1_000_000
    (tmp_path / "g.xml").write_bytes(data)
    m = probe([*EMBEDDED, "g.xml"], tmp_path)
    assert_clean_end(m, codes=(0,), lines=0)


def test_the_markup_limit_applies_to_wide_text(tmp_path: Path) -> None:
    body = BODY.replace("<devices>", "<devices>" + "<x/>" * 600_000)
    (tmp_path / "g.xml").write_bytes(codecs.BOM_UTF16_LE + body.encode("utf-16-le"))
    m = probe([*EMBEDDED, "g.xml"], tmp_path)
    assert_clean_end(m, codes=(1,))
    assert "tags" in m.stderr
