"""UAC side of digest authentication: RFC 3261 §22.2-§22.3, §8.1.3.5; RFC 8760 §2.4."""

from __future__ import annotations

import itertools

from sipwright import Request, Response, SequentialIdFactory, make_response, parse
from sipwright.auth import DigestClient, compute_response, ha1, select_challenges
from sipwright.headers.auth import parse_auth

REGISTER = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKorig;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:alice@example.com>\r\n"
    b"From: <sip:alice@example.com>;tag=ft1\r\n"
    b"Call-ID: call-1@192.0.2.1\r\n"
    b"CSeq: 7 REGISTER\r\n"
    b"Contact: <sip:alice@192.0.2.1>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def register() -> Request:
    msg = parse(REGISTER)
    assert isinstance(msg, Request)
    return msg


def challenged(request: Request, code: int, *challenges: str) -> Response:
    name = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
    return make_response(request, code, to_tag="tt", headers=[(name, c) for c in challenges])


def client() -> DigestClient:
    counter = itertools.count(1)
    return DigestClient.for_user(
        "alice",
        "secret",
        cnonce_factory=lambda: f"cn{next(counter)}",
        ids=SequentialIdFactory("r"),
    )


def test_select_strongest_per_realm() -> None:
    challenges = [
        parse_auth('Digest realm="a", nonce="1", algorithm=MD5, qop="auth"'),
        parse_auth('Digest realm="a", nonce="2", algorithm=SHA-512-256, qop="auth"'),
        parse_auth('Digest realm="a", nonce="3", algorithm=SHA-256, qop="auth"'),
        parse_auth('Digest realm="b", nonce="4", qop="auth"'),
        parse_auth('Digest realm="b", nonce="5", algorithm=SHA-1, qop="auth"'),
        parse_auth('Digest realm="c", nonce="6", algorithm=SHA-256, qop="weird"'),
        parse_auth('Basic realm="d"'),
    ]
    chosen = select_challenges(challenges)
    assert [(c.realm, c.nonce) for c in chosen] == [("a", "2"), ("b", "4")]


def test_select_keeps_server_order_on_ties() -> None:
    challenges = [
        parse_auth('Digest realm="a", nonce="1", algorithm=SHA-256-sess, qop="auth"'),
        parse_auth('Digest realm="a", nonce="2", algorithm=SHA-256, qop="auth"'),
    ]
    assert [c.nonce for c in select_challenges(challenges)] == ["1"]


def test_retry_after_401() -> None:
    req = register()
    resp = challenged(
        req,
        401,
        'Digest realm="example.com", nonce="abc", algorithm=MD5, qop="auth", opaque="op"',
        'Digest realm="example.com", nonce="xyz", algorithm=SHA-256, qop="auth,auth-int"',
    )
    retry = client().retry(req, resp)
    assert retry is not None
    assert retry.call_id == req.call_id == "call-1@192.0.2.1"
    assert retry.cseq is not None and retry.cseq.number == 8 and retry.cseq.method == "REGISTER"
    assert retry.via[0].branch == "z9hG4bKr1"
    assert retry.via[0].branch != req.via[0].branch
    assert retry.via[0].has_rport and retry.via[0].host == "192.0.2.1"
    assert retry.from_ is not None and retry.from_.tag == "ft1"
    assert retry.to is not None and retry.to.tag is None  # out of dialog: no To tag (§8.1.3.5)
    assert req.cseq is not None and req.cseq.number == 7  # the original is untouched
    assert not req.authorization
    assert retry.proxy_authorization == []
    (creds,) = retry.authorization
    assert creds.algorithm == "SHA-256"
    assert creds.nonce == "xyz"
    assert creds.qop == "auth" and creds.nc == "00000001" and creds.cnonce == "cn1"
    assert creds.uri == "sip:example.com" and creds.username == "alice"
    assert creds.opaque is None
    expected = compute_response(
        stored_ha1=ha1("alice", "example.com", "secret", "SHA-256"),
        algorithm="SHA-256",
        method="REGISTER",
        uri="sip:example.com",
        nonce="xyz",
        qop="auth",
        nc="00000001",
        cnonce="cn1",
    )
    assert creds.response == expected
    # The wire form parses back to the same credentials, tokens unquoted.
    wire = bytes(retry)
    assert b"qop=auth, nc=00000001" in wire
    again = parse(wire)
    assert isinstance(again, Request)
    assert again.authorization[0].params == creds.params


def test_407_gives_proxy_authorization_and_opaque() -> None:
    req = register()
    resp = challenged(req, 407, 'Digest realm="proxy", nonce="p1", qop="auth", opaque="zz"')
    retry = client().retry(req, resp)
    assert retry is not None
    assert retry.authorization == []
    (creds,) = retry.proxy_authorization
    assert creds.realm == "proxy" and creds.opaque == "zz"
    assert creds.algorithm is None  # not in the challenge: MD5 implied, not added


def test_nc_increments_per_nonce() -> None:
    c = client()
    challenge = parse_auth('Digest realm="r", nonce="n1", qop="auth"')
    other = parse_auth('Digest realm="r", nonce="n2", qop="auth"')
    ncs = []
    for _ in range(3):
        creds = c.answer(challenge, "INVITE", "sip:bob@example.com")
        assert creds is not None
        ncs.append(creds.nc)
    first_other = c.answer(other, "INVITE", "sip:bob@example.com")
    assert ncs == ["00000001", "00000002", "00000003"]
    assert first_other is not None and first_other.nc == "00000001"
    cnonces = {c.answer(challenge, "BYE", "sip:x@y").cnonce for _ in range(3)}  # type: ignore[union-attr]
    assert len(cnonces) == 3


def test_nc_counts_across_retries() -> None:
    c = client()
    req = register()
    chal = 'Digest realm="example.com", nonce="same", qop="auth"'
    first = c.retry(req, challenged(req, 401, chal))
    assert first is not None and first.authorization[0].nc == "00000001"
    # Same nonce again, stale=true: retried with the next count and CSeq.
    second = c.retry(first, challenged(first, 401, chal + ", stale=true"))
    assert second is not None
    assert second.authorization[0].nc == "00000002"
    assert second.cseq is not None and second.cseq.number == 9
    assert len(second.authorization) == 1  # replaced, not appended


def test_gives_up_when_credentials_rejected() -> None:
    c = client()
    req = register()
    first = c.retry(req, challenged(req, 401, 'Digest realm="example.com", nonce="a"'))
    assert first is not None
    assert c.retry(first, challenged(first, 401, 'Digest realm="example.com", nonce="b"')) is None


def test_no_usable_challenge_or_credentials() -> None:
    req = register()
    assert client().retry(req, challenged(req, 401, 'Basic realm="x"')) is None
    assert client().retry(req, make_response(req, 403)) is None
    nobody = DigestClient(lambda realm: None, cnonce_factory=lambda: "c")
    assert nobody.retry(req, challenged(req, 401, 'Digest realm="r", nonce="n"')) is None


def test_rfc2617_challenge_without_qop() -> None:
    req = register()
    retry = client().retry(req, challenged(req, 401, 'Digest realm="example.com", nonce="n"'))
    assert retry is not None
    creds = retry.authorization[0]
    assert creds.qop is None and creds.nc is None and creds.cnonce is None
    assert creds.response == compute_response(
        stored_ha1=ha1("alice", "example.com", "secret"),
        algorithm="MD5",
        method="REGISTER",
        uri="sip:example.com",
        nonce="n",
    )


def test_auth_int_only_signs_the_body() -> None:
    req = register()
    req.set_body(b"hello", "text/plain")
    resp = challenged(req, 401, 'Digest realm="example.com", nonce="n", qop="auth-int"')
    retry = client().retry(req, resp)
    assert retry is not None and retry.body == b"hello"
    creds = retry.authorization[0]
    assert creds.qop == "auth-int"
    assert creds.response == compute_response(
        stored_ha1=ha1("alice", "example.com", "secret"),
        algorithm="MD5",
        method="REGISTER",
        uri="sip:example.com",
        nonce="n",
        qop="auth-int",
        nc="00000001",
        cnonce="cn1",
        body=b"hello",
    )


def test_other_realm_credentials_are_kept() -> None:
    req = register()
    req.headers.add(
        "Authorization", 'Digest username="x", realm="other", nonce="o", uri="u", response="r"'
    )
    retry = client().retry(req, challenged(req, 401, 'Digest realm="example.com", nonce="n"'))
    assert retry is not None
    assert sorted(c.realm or "" for c in retry.authorization) == ["example.com", "other"]
