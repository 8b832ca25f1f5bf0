"""Inbound XML parsing (hardened like defusedxml, checked against it) and reply rendering."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from hypothesis import given
from hypothesis import strategies as st

from bot.xmlmsg import dedupe_key, text_reply_xml, to_incoming
from core.xmlsafe import BadXml, parse_xml, truncate_utf8

HOSTILE = [
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><A>&x;</A></xml>',
    '<!DOCTYPE xml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><xml><A>&b;</A></xml>',
    '<!DOCTYPE xml SYSTEM "http://example.invalid/x.dtd"><xml><A>1</A></xml>',
    '<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://example.invalid/p">%p;]><xml/>',
    '<!DOCTYPE xml [<!ENTITY u SYSTEM "x" NDATA gif>]><xml><A>1</A></xml>',
    "<xml><A>1</A>",
    "<xml><A>&undefined;</A></xml>",
    "",
]


def _defused_refuses(doc: str) -> bool:
    try:
        defused_fromstring(doc, forbid_dtd=True)
    except (DefusedXmlException, ElementTree.ParseError):
        return True
    return False


@pytest.mark.parametrize("doc", HOSTILE)
def test_refuses_whatever_defusedxml_refuses(doc: str) -> None:
    assert _defused_refuses(doc)
    with pytest.raises(BadXml):
        parse_xml(doc)


_TAG = st.sampled_from(["xml", "A", "B", "Content", "Encrypt"])
_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
_PIECES = st.lists(
    st.one_of(
        _TAG.map(lambda t: f"<{t}>"),
        _TAG.map(lambda t: f"</{t}>"),
        _TEXT,
        st.sampled_from(
            [
                "<!DOCTYPE xml>",
                '<!ENTITY e "x">',
                "&e;",
                "&amp;",
                "<![CDATA[",
                "]]>",
                "<!-- c -->",
                "<?pi x?>",
            ]
        ),
    ),
    max_size=12,
)


@given(_PIECES)
def test_differential_against_defusedxml(pieces: list[str]) -> None:
    """Whatever defusedxml refuses we refuse; whatever it accepts with an <xml> root we read the same."""
    doc = "".join(pieces)
    if _defused_refuses(doc):
        with pytest.raises(BadXml):
            parse_xml(doc)
        return
    root = defused_fromstring(doc, forbid_dtd=True)
    if root.tag != "xml" or len(root) == 0 or any(len(child) for child in root):
        return  # nested or empty documents: shape differs by design, refusal is covered above
    expected = {child.tag: child.text or "" for child in root}
    assert parse_xml(doc) == expected


def test_nested_fields_and_depth_limit() -> None:
    doc = "<xml><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>x</ScanResult></ScanCodeInfo></xml>"
    assert parse_xml(doc) == {"ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": "x"}}
    with pytest.raises(BadXml, match="deep"):
        parse_xml("<xml>" + "<a>" * 10 + "</a>" * 10 + "</xml>")


def test_wrong_root_and_two_roots() -> None:
    with pytest.raises(BadXml):
        parse_xml("<root><A>1</A></root>")
    with pytest.raises(BadXml):
        parse_xml("<xml><A>1</A></xml><xml><A>2</A></xml>")


@given(st.text())
def test_cdata_round_trips_any_text(text: str) -> None:
    clean = "".join(
        c
        for c in text
        if c in "\t\n" or (c >= " " and c not in "\ufffe\uffff" and not "\ud800" <= c <= "\udfff")
    )
    xml = text_reply_xml(to_user="o_u", from_user="gh", content=clean, now=1)
    assert ElementTree.fromstring(xml).findtext("Content") == clean.replace("\r", "\n")


@given(st.text(), st.integers(10, 3000))
def test_truncate_utf8_fits_and_is_a_prefix(text: str, limit: int) -> None:
    out = truncate_utf8(text, limit)
    assert len(out.encode("utf-8", "surrogatepass")) <= max(limit, 0) or out == text
    if out != text:
        assert text.startswith(out[:-1]) and out.endswith("…")


def test_dedupe_keys() -> None:
    msg = {"MsgId": "123", "FromUserName": "o", "CreateTime": "1", "MsgType": "text"}
    assert dedupe_key(msg, app="mp") == "mp:m:o:123"
    ev = {
        "FromUserName": "o",
        "CreateTime": "9",
        "MsgType": "event",
        "Event": "SCAN",
        "EventKey": "canteen:yst",
    }
    assert dedupe_key(ev, app="mp") == "mp:e:o:9:scan:canteen:yst"
    assert dedupe_key({**ev, "Event": "CLICK"}, app="mp") != dedupe_key(ev, app="mp")


# --- issue 11: dedupe keys that cannot collide ---


def test_one_msgid_from_two_senders_gives_two_keys() -> None:
    a = {"MsgId": "123", "FromUserName": "o_a", "CreateTime": "1", "MsgType": "text"}
    assert dedupe_key(a, app="mp") != dedupe_key({**a, "FromUserName": "o_b"}, app="mp")


def test_events_are_never_keyed_by_their_msgid() -> None:
    done = {"FromUserName": "o", "CreateTime": "5", "MsgType": "event", "MsgID": "77"}
    template = {**done, "Event": "TEMPLATESENDJOBFINISH"}
    mass = {**done, "Event": "MASSSENDJOBFINISH"}
    text = {"MsgId": "77", "FromUserName": "o", "CreateTime": "5", "MsgType": "text"}
    keys = {dedupe_key(x, app="mp") for x in (template, mass, text)}
    assert len(keys) == 3 and all(":77" not in k for k in keys if ":e:" in k)
    assert dedupe_key(template, app="mp") == "mp:e:o:5:templatesendjobfinish:"


def test_wecom_events_include_the_agent() -> None:
    ev = {"FromUserName": "u", "CreateTime": "5", "MsgType": "event", "Event": "click", "EventKey": "k"}
    assert dedupe_key({**ev, "AgentID": "1"}, app="wecom") != dedupe_key({**ev, "AgentID": "2"}, app="wecom")


def test_subscribe_scene_is_stripped_of_qrscene_prefix() -> None:
    ev = {
        "FromUserName": "o",
        "CreateTime": "9",
        "MsgType": "event",
        "Event": "subscribe",
        "EventKey": "qrscene_meeting:A1",
    }
    incoming = to_incoming(ev, app="mp")
    assert (incoming.event, incoming.event_key) == ("subscribe_scan", "meeting:A1")
    scan = to_incoming({**ev, "Event": "SCAN", "EventKey": "canteen:yst:3"}, app="mp")
    assert (scan.event, scan.event_key) == ("scan", "canteen:yst:3")
