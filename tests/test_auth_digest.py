"""Digest calculation vectors: RFC 2617 §3.5, RFC 7616 §3.9.1, RFC 8760 (SHA-512-256).

The RFC 7616 example also runs end to end through DigestClient and DigestServer.verify.

Every expected value is either published in an RFC or recomputed here from the
hashlib primitives with the RFC 7616 §3.4 formulas written out by hand.
"""

from __future__ import annotations

import hashlib

import pytest

from sipwright import Request, parse
from sipwright.auth import (
    DigestClient,
    DigestServer,
    compute_response,
    ha1,
    ha2,
    normalize_algorithm,
    session_ha1,
)
from sipwright.auth.digest import algorithm_strength, base_algorithm, is_sess
from sipwright.auth.server import HA1Lookup, NonceState
from sipwright.headers.auth import AuthHeader, parse_auth

RFC7616 = {
    "username": "Mufasa",
    "realm": "http-auth@example.org",
    "password": "Circle of Life",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    "nc": "00000001",
    "qop": "auth",
    "uri": "/dir/index.html",
    "method": "GET",
}


def _h(name: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.new(name, data).hexdigest()


def test_rfc2617_section_3_5_example() -> None:
    stored = ha1("Mufasa", "testrealm@host.com", "Circle Of Life", "MD5")
    got = compute_response(
        stored_ha1=stored,
        algorithm="MD5",
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert got == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_examples(algorithm: str, expected: str) -> None:
    v = RFC7616
    got = compute_response(
        stored_ha1=ha1(v["username"], v["realm"], v["password"], algorithm),
        algorithm=algorithm,
        method=v["method"],
        uri=v["uri"],
        nonce=v["nonce"],
        qop=v["qop"],
        nc=v["nc"],
        cnonce=v["cnonce"],
    )
    assert got == expected


def test_sha512_256_matches_the_formula() -> None:
    """RFC 8760 §2: SHA-512/256 (FIPS 180-4), not a truncated SHA-512."""
    v = RFC7616
    h = "sha512_256"
    a1 = _h(h, f"{v['username']}:{v['realm']}:{v['password']}")
    a2 = _h(h, f"{v['method']}:{v['uri']}")
    want = _h(h, f"{a1}:{v['nonce']}:{v['nc']}:{v['cnonce']}:auth:{a2}")
    got = compute_response(
        stored_ha1=ha1(v["username"], v["realm"], v["password"], "SHA-512-256"),
        algorithm="SHA-512-256",
        method=v["method"],
        uri=v["uri"],
        nonce=v["nonce"],
        qop="auth",
        nc=v["nc"],
        cnonce=v["cnonce"],
    )
    assert got == want
    assert len(got) == 64
    assert got != hashlib.sha512(b"x").hexdigest()[:64]  # sanity: distinct from truncation
    assert ha1("a", "b", "c", "SHA-512-256") != hashlib.sha512(b"a:b:c").hexdigest()[:64]


@pytest.mark.parametrize(
    ("algorithm", "hashname"),
    [("MD5", "md5"), ("SHA-256", "sha256"), ("SHA-512-256", "sha512_256")],
)
def test_auth_int_hashes_the_body(algorithm: str, hashname: str) -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    want_ha2 = _h(hashname, f"INVITE:sip:bob@example.com:{_h(hashname, body)}")
    assert ha2(algorithm, "INVITE", "sip:bob@example.com", "auth-int", body) == want_ha2
    kwargs = {
        "stored_ha1": ha1("alice", "example.com", "pw", algorithm),
        "algorithm": algorithm,
        "method": "INVITE",
        "uri": "sip:bob@example.com",
        "nonce": "n",
        "qop": "auth-int",
        "nc": "00000001",
        "cnonce": "c",
    }
    with_body = compute_response(**kwargs, body=body)
    other_body = compute_response(**kwargs, body=body + b"x")
    assert with_body != other_body
    a1 = _h(hashname, "alice:example.com:pw")
    assert with_body == _h(hashname, f"{a1}:n:00000001:c:auth-int:{want_ha2}")


def test_md5_sess() -> None:
    """RFC 7616 §3.4.2: HA1 = H(H(user:realm:pass) ":" nonce ":" cnonce)."""
    stored = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    sess = session_ha1(stored, "MD5-sess", "nonce1", "cn1")
    assert sess == _h("md5", f"{stored}:nonce1:cn1")
    assert session_ha1(stored, "MD5", "nonce1", "cn1") == stored
    got = compute_response(
        stored_ha1=stored,
        algorithm="MD5-sess",
        method="REGISTER",
        uri="sip:example.com",
        nonce="nonce1",
        qop="auth",
        nc="00000002",
        cnonce="cn1",
    )
    a2 = _h("md5", "REGISTER:sip:example.com")
    assert got == _h("md5", f"{sess}:nonce1:00000002:cn1:auth:{a2}")
    plain = compute_response(
        stored_ha1=stored,
        algorithm="MD5",
        method="REGISTER",
        uri="sip:example.com",
        nonce="nonce1",
        qop="auth",
        nc="00000002",
        cnonce="cn1",
    )
    assert got != plain


def test_sha256_sess_uses_sha256() -> None:
    stored = ha1("u", "r", "p", "SHA-256")
    assert session_ha1(stored, "SHA-256-sess", "n", "c") == _h("sha256", f"{stored}:n:c")
    with pytest.raises(ValueError):
        session_ha1(stored, "SHA-256-sess", "n", None)


def test_rfc2617_compatibility_without_qop() -> None:
    """RFC 2617 §3.2.2.1 (RFC 2069): response = KD(HA1, nonce ":" HA2)."""
    stored = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    got = compute_response(
        stored_ha1=stored,
        algorithm="MD5",
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
    )
    a2 = _h("md5", "GET:/dir/index.html")
    assert got == _h("md5", f"{stored}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{a2}")
    assert got == "670fd8c2df070c60b045671b8b24ff02"  # RFC 2069 §2.4 example


def test_qop_needs_nc_and_cnonce() -> None:
    with pytest.raises(ValueError):
        compute_response(
            stored_ha1="x", algorithm="MD5", method="GET", uri="/", nonce="n", qop="auth"
        )
    with pytest.raises(ValueError):
        compute_response(
            stored_ha1="x", algorithm="MD4", method="GET", uri="/", nonce="n", qop="auth"
        )


def test_algorithm_names_and_order() -> None:
    assert normalize_algorithm(None) == "MD5"
    assert normalize_algorithm("sha-256-SESS") == "SHA-256-sess"
    assert normalize_algorithm("SHA-1") is None
    assert base_algorithm("SHA-512-256-sess") == "SHA-512-256"
    assert is_sess("md5-sess") and not is_sess("MD5")
    ranks = [algorithm_strength(a) for a in ("SHA-512-256", "SHA-256", "MD5")]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == 3
    assert algorithm_strength("SHA-256-sess") == algorithm_strength("SHA-256")
    assert algorithm_strength("bogus") == -1


# -- RFC 7616 §3.9.1 through DigestClient and DigestServer.verify ---------------------------
#
# The published example is HTTP (``GET /dir/index.html``), not SIP, so:
# * the client side goes through ``DigestClient.answer(challenge, method, uri)``, the call
#   ``DigestClient.retry`` makes with a request's method and Request-URI text: it takes
#   plain strings, so no SIP request is needed, and the cnonce comes from
#   ``cnonce_factory`` (fixed to the published one here);
# * the server side goes through ``DigestServer.verify`` with the request parsed from an
#   HTTP-shaped request line (the parser keeps the Request-URI text and parses it only on
#   demand; ``verify`` compares the ``uri`` parameter to that text first, §22.4). The
#   published nonce was not signed by our server, so the real server refuses it as
#   ``invalid-nonce`` (asserted below); only for the published nonce does the subclass
#   report it as valid. Everything else — uri match, algorithm, qop, opaque, HA1 lookup,
#   the response comparison, nc bookkeeping — is the server's own code.

RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_RESPONSES = [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
]


def _rfc7616_challenge(algorithm: str) -> AuthHeader:
    v = RFC7616
    return parse_auth(
        f'Digest realm="{v["realm"]}", qop="auth", algorithm={algorithm}, '
        f'nonce="{v["nonce"]}", opaque="{RFC7616_OPAQUE}"'
    )


class _PublishedNonceServer(DigestServer):
    """Accepts the RFC's (foreign) nonce as valid; any other nonce is checked as usual."""

    def check_nonce(self, nonce: str, now: float, context: str = "") -> NonceState:
        if nonce == RFC7616["nonce"]:
            return "valid"
        return super().check_nonce(nonce, now, context)


def _rfc7616_request(authorization: str) -> Request:
    v = RFC7616
    msg = parse(
        f"{v['method']} {v['uri']} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKrfc7616\r\n"
        "Max-Forwards: 70\r\n"
        "To: <sip:Mufasa@example.org>\r\n"
        "From: <sip:Mufasa@example.org>;tag=f1\r\n"
        "Call-ID: rfc7616\r\n"
        f"CSeq: 1 {v['method']}\r\n"
        f"Authorization: {authorization}\r\n"
        "Content-Length: 0\r\n\r\n".encode()
    )
    assert isinstance(msg, Request)
    return msg


def _rfc7616_store(password: str) -> HA1Lookup:
    def lookup(username: str, realm: str, algorithm: str) -> str | None:
        if username != RFC7616["username"]:
            return None
        return ha1(username, realm, password, algorithm)

    return lookup


@pytest.mark.parametrize(("algorithm", "expected"), RFC7616_RESPONSES)
def test_rfc7616_example_through_digest_client(algorithm: str, expected: str) -> None:
    v = RFC7616
    client = DigestClient.for_user(v["username"], v["password"], cnonce_factory=lambda: v["cnonce"])
    creds = client.answer(_rfc7616_challenge(algorithm), v["method"], v["uri"])
    assert creds is not None
    assert creds.response == expected
    assert (creds.username, creds.realm, creds.uri) == (v["username"], v["realm"], v["uri"])
    assert (creds.nonce, creds.cnonce, creds.nc) == (v["nonce"], v["cnonce"], v["nc"])
    assert creds.qop == "auth" and creds.opaque == RFC7616_OPAQUE
    assert creds.algorithm == algorithm


@pytest.mark.parametrize(("algorithm", "expected"), RFC7616_RESPONSES)
def test_rfc7616_example_accepted_by_digest_server(algorithm: str, expected: str) -> None:
    v = RFC7616
    client = DigestClient.for_user(v["username"], v["password"], cnonce_factory=lambda: v["cnonce"])
    creds = client.answer(_rfc7616_challenge(algorithm), v["method"], v["uri"])
    assert creds is not None and creds.response == expected
    request = _rfc7616_request(str(creds))

    def make(cls: type[DigestServer], password: str) -> DigestServer:
        secret = b"rfc7616-test-secret-0123"
        store = _rfc7616_store(password)
        return cls(v["realm"], secret, store, algorithms=(algorithm,), opaque=RFC7616_OPAQUE)

    server = make(_PublishedNonceServer, v["password"])
    verdict = server.verify(request, now=0.0)
    assert (verdict.accepted, verdict.reason, verdict.username) == (True, "ok", "Mufasa")
    # The same nc again is a replay (RFC 7616 §3.4 nonce-count).
    assert server.verify(request, now=0.0).reason == "replay"

    # A wrong stored HA1 fails the same comparison: the acceptance above is not vacuous.
    wrong = make(_PublishedNonceServer, "Circle Of Life")
    assert wrong.verify(request, now=0.0).reason == "bad-response"
    # The unmodified server does not take a nonce it did not sign.
    real = make(DigestServer, v["password"])
    assert real.verify(request, now=0.0).reason == "invalid-nonce"
