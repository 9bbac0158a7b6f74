"""The registrar's rules (RFC 3261 §10.3, RFC 3327, RFC 5626) on a fake clock."""

from __future__ import annotations

from sipwright import Request, parse
from sipwright.registrar import (
    Binding,
    Flow,
    RegistrarPolicy,
    aor_of,
    process_register,
)
from sipwright.uri import parse_uri

NOW = 1_700_000_000.0


def register(
    *contacts: str,
    call_id: str = "reg-1",
    cseq: int = 1,
    expires: int | None = None,
    extra: str = "",
    to: str = "<sip:alice@example.com>",
) -> Request:
    lines = [
        "REGISTER sip:example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1",
        "Max-Forwards: 70",
        f"To: {to}",
        "From: <sip:alice@example.com>;tag=abc",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *(f"Contact: {c}" for c in contacts),
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if extra:
        lines.extend(extra.split("\n"))
    lines.append("Content-Length: 0")
    msg = parse(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def contacts_of(outcome_response: object) -> list[tuple[str, int | None]]:
    from sipwright import Response

    assert isinstance(outcome_response, Response)
    return [(str(c.uri), c.expires) for c in outcome_response.contact]


def test_aor_is_canonical() -> None:
    assert aor_of(parse_uri("sip:Alice@Example.COM:5060;transport=tcp")) == (
        "sip:Alice@example.com:5060"
    )
    assert aor_of(parse_uri("sips:bob@example.com?subject=x")) == "sips:bob@example.com"
    assert aor_of(parse_uri("tel:+1555")) is None


def test_new_binding_listed_with_remaining_expiry() -> None:
    out = process_register(register("<sip:alice@192.0.2.1:5060>", expires=600), [], NOW)
    assert out.response.status_code == 200 and out.changed
    assert out.aor == "sip:alice@example.com"
    (b,) = out.bindings
    assert b.contact == "sip:alice@192.0.2.1:5060" and b.expires_at == NOW + 600
    assert contacts_of(out.response) == [("sip:alice@192.0.2.1:5060", 600)]
    # 100 s later a query (no Contact) lists it with 500 s left and changes nothing.
    query = process_register(register(cseq=2), out.bindings, NOW + 100)
    assert not query.changed and query.response.status_code == 200
    assert contacts_of(query.response) == [("sip:alice@192.0.2.1:5060", 500)]


def test_contact_param_beats_expires_header_and_default_applies() -> None:
    req = register("<sip:a@192.0.2.1>;expires=120", "<sip:b@192.0.2.2>", expires=300)
    out = process_register(req, [], NOW)
    assert sorted(contacts_of(out.response)) == [("sip:a@192.0.2.1", 120), ("sip:b@192.0.2.2", 300)]
    out = process_register(register("<sip:c@192.0.2.3>"), [], NOW)
    assert contacts_of(out.response) == [("sip:c@192.0.2.3", 3600)]


def test_too_brief_gets_423_with_min_expires_and_too_long_is_capped() -> None:
    policy = RegistrarPolicy(min_expires=60, max_expires=7200)
    out = process_register(register("<sip:a@192.0.2.1>", expires=30), [], NOW, policy)
    assert out.response.status_code == 423 and not out.changed
    assert out.response.headers.get("Min-Expires") == "60"
    out = process_register(register("<sip:a@192.0.2.1>", expires=99999), [], NOW, policy)
    assert contacts_of(out.response) == [("sip:a@192.0.2.1", 7200)]


def test_refresh_same_call_id_needs_higher_cseq() -> None:
    first = process_register(register("<sip:a@192.0.2.1>", cseq=5, expires=600), [], NOW)
    again = register("<sip:a@192.0.2.1>", cseq=5, expires=900)
    stale = process_register(again, first.bindings, NOW + 1)
    assert stale.response.status_code == 500 and not stale.changed
    refresh = register("<sip:a@192.0.2.1>", cseq=6, expires=900)
    newer = process_register(refresh, first.bindings, NOW + 1)
    assert newer.response.status_code == 200
    assert newer.bindings[0].expires_at == NOW + 901 and newer.bindings[0].cseq == 6
    # A different Call-ID (a rebooted phone) replaces the binding whatever its CSeq.
    other = register("<sip:a@192.0.2.1>", call_id="reg-2", cseq=1, expires=60)
    replaced = process_register(other, newer.bindings, NOW + 2)
    assert replaced.response.status_code == 200 and replaced.bindings[0].call_id == "reg-2"


def test_expires_zero_removes_one_binding_and_star_removes_all() -> None:
    both = process_register(
        register("<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>", expires=600), [], NOW
    ).bindings
    assert len(both) == 2
    one = process_register(register("<sip:a@192.0.2.1>;expires=0", cseq=2), both, NOW)
    assert [b.contact for b in one.bindings] == ["sip:b@192.0.2.2"]
    assert contacts_of(one.response) == [("sip:b@192.0.2.2", 600)]
    gone = process_register(register("*", cseq=3, expires=0), one.bindings, NOW)
    assert gone.response.status_code == 200 and gone.bindings == () and gone.changed
    assert gone.response.contact == []


def test_star_rules() -> None:
    assert process_register(register("*", expires=10), [], NOW).response.status_code == 400
    assert process_register(register("*"), [], NOW).response.status_code == 400
    mixed = register("*", "<sip:a@192.0.2.1>", expires=0)
    assert process_register(mixed, [], NOW).response.status_code == 400


def test_q_orders_bindings_and_is_echoed() -> None:
    req = register("<sip:low@192.0.2.1>;q=0.1", "<sip:high@192.0.2.2>;q=0.9", expires=600)
    out = process_register(req, [], NOW)
    assert [b.contact for b in out.bindings] == ["sip:high@192.0.2.2", "sip:low@192.0.2.1"]
    assert "q=0.9" in out.response.headers.getall("Contact")[0]


def test_expired_bindings_are_not_current() -> None:
    old = Binding("sip:alice@example.com", "sip:a@192.0.2.1", NOW - 1, "x", 1)
    out = process_register(register(cseq=1), [old], NOW)
    assert out.response.contact == [] and out.bindings == ()


def test_max_bindings_and_foreign_domain() -> None:
    policy = RegistrarPolicy(max_bindings=1, domains=frozenset({"example.com"}))
    two = register("<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>", expires=600)
    assert process_register(two, [], NOW, policy).response.status_code == 403
    foreign = register("<sip:a@192.0.2.1>", to="<sip:alice@elsewhere.org>")
    assert process_register(foreign, [], NOW, policy).response.status_code == 404


def test_path_stored_and_echoed_when_supported() -> None:
    extra = "Supported: path\nPath: <sip:edge.example.com;lr>"
    out = process_register(register("<sip:a@192.0.2.1>", extra=extra), [], NOW)
    assert out.bindings[0].path == ("<sip:edge.example.com;lr>",)
    assert out.response.headers.getall("Path") == ["<sip:edge.example.com;lr>"]
    plain = process_register(register("<sip:a@192.0.2.1>", extra="Path: <sip:x;lr>"), [], NOW)
    assert plain.bindings[0].path == () and plain.response.headers.get("Path") is None


def test_outbound_instance_reg_id_replaces_the_old_flow() -> None:
    inst = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1'
    extra = "Supported: outbound, path"
    flow1 = Flow("UDP", "198.51.100.7", 40000)
    first = process_register(
        register(f"<sip:alice@10.0.0.2:5060;ob>;{inst}", extra=extra, expires=600),
        [],
        NOW,
        flow=flow1,
    )
    assert first.response.headers.get("Require") == "outbound"
    (b,) = first.bindings
    assert b.instance == "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>" and b.reg_id == 1
    assert b.flow == flow1
    # Same instance and reg-id from a new NAT binding and Contact port: replaced, not added.
    flow2 = Flow("UDP", "198.51.100.7", 40002)
    second = process_register(
        register(f"<sip:alice@10.0.0.2:5070;ob>;{inst}", extra=extra, cseq=2, expires=600),
        first.bindings,
        NOW + 5,
        flow=flow2,
    )
    (b2,) = second.bindings
    assert b2.flow == flow2 and b2.contact == "sip:alice@10.0.0.2:5070;ob"


def test_bad_expires_is_a_400_naming_the_fault() -> None:
    out = process_register(register("<sip:a@192.0.2.1>", extra="Expires: soon"), [], NOW)
    assert out.response.status_code == 400 and "Expires" in out.response.reason
    out = process_register(register("<sip:a@192.0.2.1>;expires=abc"), [], NOW)
    assert out.response.status_code == 400 and "expires" in out.response.reason
    assert not out.changed
