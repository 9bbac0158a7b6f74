"""Tests of ``StreamParser``: framing a TCP/TLS byte stream into messages.

RFC 3261 §18.3: on a stream, Content-Length is mandatory and delimits each message; a
framing error leaves nothing after it that can be trusted, so the connection is closed.
§7.5: CRLFs between messages are ignored. RFC 5626 §3.5.1: a double CRLF is a keep-alive
ping answered by a single CRLF pong. §21.5.7: 513 for an oversized message.
"""

from __future__ import annotations

import pytest

from sipwright import KeepAlive, ParseError, ParseLimits, Request, Response, StreamParser

Item = Request | Response | KeepAlive


def msg(n: int, body: bytes = b"") -> bytes:
    head = (
        f"MESSAGE sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP pc33.example.com;branch=z9hG4bK{n}\r\n"
        f"Call-ID: call-{n}\r\n"
        f"CSeq: {n} MESSAGE\r\n"
    )
    if body:
        head += "Content-Type: text/plain\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def call_ids(items: list[Item]) -> list[str | None]:
    return [None if isinstance(i, KeepAlive) else i.call_id for i in items]


def test_several_messages_in_one_feed() -> None:
    """§18.3: Content-Length delimits consecutive messages on one stream."""
    p = StreamParser()
    out = p.feed(msg(1, b"hello") + msg(2) + msg(3, b"\r\n\r\nbody with blank lines"))
    assert call_ids(out) == ["call-1", "call-2", "call-3"]
    assert [m.body for m in out if not isinstance(m, KeepAlive)] == [
        b"hello",
        b"",
        b"\r\n\r\nbody with blank lines",
    ]
    assert p.buffered == 0


def test_messages_are_byte_identical_after_framing() -> None:
    """§18.3: framing neither adds nor loses octets."""
    data = msg(1, b"a") + msg(2, b"bc")
    out = StreamParser().feed(data)
    assert b"".join(bytes(m) for m in out if not isinstance(m, KeepAlive)) == data


def test_byte_by_byte_feed() -> None:
    """A message is returned as soon as its last byte arrives, and not before."""
    data = msg(1, b"hello") + msg(2, b"world!")
    p = StreamParser()
    ends = {len(msg(1, b"hello")) - 1, len(data) - 1}
    out: list[Item] = []
    for i in range(len(data)):
        got = p.feed(data[i : i + 1])
        assert bool(got) == (i in ends), i
        out.extend(got)
    assert call_ids(out) == ["call-1", "call-2"]
    assert p.buffered == 0


def test_body_arriving_in_pieces() -> None:
    """§18.3: the parser waits for exactly Content-Length octets of body."""
    data = msg(7, b"0123456789")
    p = StreamParser()
    assert p.feed(data[:-10]) == []
    assert p.feed(b"0123") == []
    assert p.feed(b"45678") == []
    (done,) = p.feed(b"9" + msg(8)[:10])
    assert isinstance(done, Request)
    assert done.body == b"0123456789"
    assert p.buffered == 10


def test_double_crlf_is_a_ping() -> None:
    """RFC 5626 §3.5.1: CRLFCRLF between messages is a ping."""
    out = StreamParser().feed(msg(1) + b"\r\n\r\n" + msg(2))
    assert call_ids(out) == ["call-1", None, "call-2"]
    ka = out[1]
    assert isinstance(ka, KeepAlive)
    assert ka.ping is True


def test_single_crlf_is_a_pong() -> None:
    """RFC 5626 §3.5.1: a single CRLF is the pong (once it cannot become a ping)."""
    p = StreamParser()
    assert p.feed(b"\r\n") == []
    out = p.feed(msg(1))
    assert len(out) == 2
    assert isinstance(out[0], KeepAlive)
    assert out[0].ping is False
    assert call_ids(out) == [None, "call-1"]


def test_ping_split_across_feeds() -> None:
    """RFC 5626 §3.5.1: a ping split across TCP segments is still one ping."""
    p = StreamParser()
    assert p.feed(b"\r") == []
    assert p.feed(b"\n\r") == []
    (ka,) = p.feed(b"\n")
    assert isinstance(ka, KeepAlive)
    assert ka.ping is True
    assert p.buffered == 0


def test_missing_content_length_fails_the_stream() -> None:
    """§18.3: Content-Length MUST be present on a stream; the parser stays failed."""
    p = StreamParser()
    bad = msg(1).replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(ParseError) as info:
        p.feed(bad)
    assert info.value.status_code == 400
    with pytest.raises(ParseError):
        p.feed(msg(2))


def test_bad_content_length_fails_the_stream() -> None:
    """§18.3 / RFC 4475 §3.1.2.3 ncl: a negative length closes the connection."""
    p = StreamParser()
    with pytest.raises(ParseError):
        p.feed(msg(1).replace(b"Content-Length: 0", b"Content-Length: -999"))
    with pytest.raises(ParseError):
        p.feed(b"\r\n\r\n")


def test_framing_error_after_a_good_message() -> None:
    """§18.3: messages already framed are returned; garbage after them raises, and only
    a new parser (a new connection) frames good input again."""
    p = StreamParser()
    assert call_ids(p.feed(msg(1))) == ["call-1"]
    with pytest.raises(ParseError):
        p.feed(b"garbage without headers\r\n\r\n")
    assert call_ids(StreamParser().feed(msg(2))) == ["call-2"]


def test_oversized_header_section_is_513() -> None:
    """§21.5.7: a header section that never ends within the limit is 513."""
    p = StreamParser(limits=ParseLimits(max_message_size=200))
    with pytest.raises(ParseError) as info:
        p.feed(b"MESSAGE sip:bob@example.com SIP/2.0\r\n" + b"X-Pad: aaaaaaaaaa\r\n" * 20)
    assert info.value.status_code == 513


def test_oversized_content_length_is_513() -> None:
    """§21.5.7: a body announced beyond the limit is refused before it is buffered."""
    p = StreamParser(limits=ParseLimits(max_message_size=300))
    with pytest.raises(ParseError) as info:
        p.feed(msg(1).replace(b"Content-Length: 0", b"Content-Length: 100000"))
    assert info.value.status_code == 513


def test_bare_lf_in_stream_is_an_error() -> None:
    """§7 / §18.3: on a stream there is no datagram boundary to fall back on."""
    with pytest.raises(ParseError):
        StreamParser().feed(msg(1).replace(b"\r\n", b"\n") + b"\r\n\r\n")


def test_responses_are_framed_too() -> None:
    data = b"SIP/2.0 200 OK\r\nCall-ID: r\r\nContent-Length: 0\r\n\r\n"
    (resp,) = StreamParser().feed(data)
    assert isinstance(resp, Response)
    assert resp.status_code == 200
