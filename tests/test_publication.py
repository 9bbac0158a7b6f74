"""Sans-I/O publication (RFC 3903): the publisher's state and the compositor's store."""

from __future__ import annotations

import itertools

import pytest

from sipwright import Request, Response
from sipwright.publication import (
    PublicationClient,
    PublicationStore,
    PublishKind,
    publish_refresh_delay,
)

PIDF = b"<presence>open</presence>"
_etags = itertools.count(1)


def store(**kw: int) -> PublicationStore:
    counter = itertools.count(1)
    return PublicationStore(["presence"], etag_factory=lambda: f"e{next(counter)}", **kw)


def publish(
    *headers: tuple[str, str], body: bytes = b"", uri: str = "sip:alice@127.0.0.1"
) -> Request:
    fields = [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKp{next(_etags)}"),
        ("To", f"<{uri}>"),
        ("From", f"<{uri}>;tag=x"),
        ("Call-ID", "pub1"),
        ("CSeq", "1 PUBLISH"),
        *headers,
    ]
    content_type = "application/pidf+xml" if body else None
    return Request("PUBLISH", uri, fields, body, content_type=content_type)


def etag_of(reply_headers: list[tuple[str, str]]) -> str:
    return dict(reply_headers)["SIP-ETag"]


def test_initial_refresh_modify_remove() -> None:
    esc = store()
    reply = esc.handle(publish(("Event", "presence"), ("Expires", "120"), body=PIDF), now=0.0)
    assert reply.status_code == 200
    first = etag_of(reply.headers)
    assert dict(reply.headers)["Expires"] == "120"
    assert reply.state is not None and reply.state.body == PIDF
    assert [s.etag for s in esc.states("sip:alice@127.0.0.1", "presence", 1.0)] == [first]

    # Refresh: no body, SIP-If-Match; a new etag, the same state, a new lifetime (§4.4).
    reply = esc.handle(
        publish(("Event", "presence"), ("SIP-If-Match", first), ("Expires", "120")), now=100.0
    )
    assert reply.status_code == 200
    second = etag_of(reply.headers)
    assert second != first
    assert esc.get(first, 100.0) is None
    live = esc.get(second, 200.0)
    assert live is not None and live.body == PIDF and live.expires_at == 220.0

    # Modify: SIP-If-Match and a body (§4.5).
    new = b"<presence>closed</presence>"
    reply = esc.handle(
        publish(("Event", "presence"), ("SIP-If-Match", second), body=new), now=201.0
    )
    assert reply.status_code == 200
    third = etag_of(reply.headers)
    live = esc.get(third, 201.0)
    assert live is not None and live.body == new
    assert live.content_type == "application/pidf+xml"

    # Remove: Expires 0 (§4.6).
    reply = esc.handle(
        publish(("Event", "presence"), ("SIP-If-Match", third), ("Expires", "0")), now=202.0
    )
    assert reply.status_code == 200 and dict(reply.headers)["Expires"] == "0"
    assert reply.removed is not None and reply.removed.etag == third
    assert len(esc) == 0


def test_expiry_with_now() -> None:
    esc = store()
    reply = esc.handle(publish(("Event", "presence"), ("Expires", "60"), body=PIDF), now=10.0)
    etag = etag_of(reply.headers)
    assert esc.next_expiry() == 70.0
    assert esc.get(etag, 69.9) is not None
    assert esc.expire(69.9) == []
    gone = esc.expire(70.0)
    assert [s.etag for s in gone] == [etag]
    assert esc.next_expiry() is None
    # A refresh after the state expired: 412 (§6 step 3).
    late = esc.handle(publish(("Event", "presence"), ("SIP-If-Match", etag)), now=71.0)
    assert late.status_code == 412


def test_expired_state_is_dropped_on_handle() -> None:
    esc = store()
    etag = etag_of(
        esc.handle(publish(("Event", "presence"), ("Expires", "60"), body=PIDF), 0).headers
    )
    assert (
        esc.handle(publish(("Event", "presence"), ("SIP-If-Match", etag)), 61.0).status_code == 412
    )
    assert len(esc) == 0


def test_unknown_etag_412_and_wrong_resource_412() -> None:
    esc = store()
    assert (
        esc.handle(publish(("Event", "presence"), ("SIP-If-Match", "nope")), 0).status_code == 412
    )
    etag = etag_of(esc.handle(publish(("Event", "presence"), body=PIDF), 0).headers)
    other = publish(("Event", "presence"), ("SIP-If-Match", etag), uri="sip:bob@127.0.0.1")
    assert esc.handle(other, 1.0).status_code == 412


def test_too_short_423_and_capped_and_default() -> None:
    esc = store(min_expires=60, max_expires=600, default_expires=300)
    reply = esc.handle(publish(("Event", "presence"), ("Expires", "10"), body=PIDF), 0)
    assert reply.status_code == 423 and dict(reply.headers)["Min-Expires"] == "60"
    reply = esc.handle(publish(("Event", "presence"), ("Expires", "9999"), body=PIDF), 0)
    assert dict(reply.headers)["Expires"] == "600"
    reply = esc.handle(publish(("Event", "presence"), body=PIDF), 0)
    assert dict(reply.headers)["Expires"] == "300"


@pytest.mark.parametrize("event", [None, "dialog"])
def test_bad_event_489(event: str | None) -> None:
    headers = [("Event", event)] if event else []
    reply = store().handle(publish(*headers, body=PIDF), 0)
    assert reply.status_code == 489
    assert dict(reply.headers)["Allow-Events"] == "presence"


def test_initial_without_body_400_and_bad_expires_400() -> None:
    esc = store()
    reply = esc.handle(publish(("Event", "presence")), 0)
    assert reply.status_code == 400 and "body" in reply.reason
    reply = esc.handle(publish(("Event", "presence"), ("Expires", "soon"), body=PIDF), 0)
    assert reply.status_code == 400
    two = publish(("Event", "presence"), ("SIP-If-Match", "a"), ("SIP-If-Match", "b"))
    assert esc.handle(two, 0).status_code == 400
    with pytest.raises(ValueError):
        esc.handle(Request("OPTIONS", "sip:a@127.0.0.1", publish().headers.items()), 0)


def test_client_state_machine() -> None:
    client = PublicationClient("presence", PIDF, "application/pidf+xml", 60)
    assert client.headers(PublishKind.INITIAL) == [("Event", "presence"), ("Expires", "60")]
    assert client.body_for(PublishKind.INITIAL) == (PIDF, "application/pidf+xml")
    with pytest.raises(ValueError):
        client.headers(PublishKind.REFRESH)
    request = publish(("Event", "presence"), body=PIDF)
    ok = request.make_response(200)
    ok.headers.add("SIP-ETag", "e1")
    ok.headers.add("Expires", "40")
    client.on_response(PublishKind.INITIAL, ok, now=5.0)
    assert client.etag == "e1" and client.granted == 40
    assert client.refresh_at == 5.0 + publish_refresh_delay(40) == 25.0
    assert client.kind_for_refresh() is PublishKind.REFRESH
    assert ("SIP-If-Match", "e1") in client.headers(PublishKind.REFRESH)
    assert client.body_for(PublishKind.REFRESH) == (b"", None)
    assert client.headers(PublishKind.REMOVE)[-1] == ("Expires", "0")
    failed: Response = request.make_response(412)
    client.on_response(PublishKind.REFRESH, failed, now=26.0)
    assert client.etag is None and client.refresh_at is None
    assert client.kind_for_refresh() is PublishKind.INITIAL


def test_bounded_number_of_publications() -> None:
    esc = PublicationStore(["presence"], max_publications=2)
    for _ in range(2):
        assert esc.handle(publish(("Event", "presence"), body=PIDF), 0).status_code == 200
    reply = esc.handle(publish(("Event", "presence"), body=PIDF), 0)
    assert reply.status_code == 503 and ("Retry-After", "60") in reply.headers
    # Refreshing an existing one is still fine; so is a new one once one expired.
    etag = esc.states("sip:alice@127.0.0.1", "presence", 0)[0].etag
    assert esc.handle(publish(("Event", "presence"), ("SIP-If-Match", etag)), 1).status_code == 200
    assert esc.handle(publish(("Event", "presence"), body=PIDF), 3600.0).status_code == 200
