"""UAS / proxy side of digest authentication: RFC 3261 §22.1, §22.3, §22.4; RFC 7616 §3.3-§3.4."""

from __future__ import annotations

import inspect
import itertools

import pytest

from sipwright import Request, SequentialIdFactory, parse
from sipwright.auth import DigestClient, DigestServer, ha1
from sipwright.auth import server as server_module

SECRET = b"0123456789abcdef-server-secret"
USERS = {("alice", "example.com"): "secret"}

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKorig\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"From: <sip:alice@example.com>;tag=ft1\r\n"
    b"Call-ID: call-9@192.0.2.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.1>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def invite() -> Request:
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    return msg


class Store:
    """HA1 table, filled through the one password-taking helper."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], str] = {}
        self.calls: list[tuple[str, str, str]] = []
        for (user, realm), password in USERS.items():
            for alg in ("MD5", "SHA-256", "SHA-512-256"):
                self.rows[(user, realm, alg)] = ha1(user, realm, password, alg)

    def __call__(self, username: str, realm: str, algorithm: str) -> str | None:
        self.calls.append((username, realm, algorithm))
        return self.rows.get((username, realm, algorithm))


def make_server(**kwargs: object) -> DigestServer:
    return DigestServer("example.com", SECRET, Store(), **kwargs)  # type: ignore[arg-type]


def make_client(password: str = "secret") -> DigestClient:
    counter = itertools.count(1)
    return DigestClient.for_user(
        "alice", password, cnonce_factory=lambda: f"cn{next(counter)}", ids=SequentialIdFactory()
    )


def authenticated(server: DigestServer, client: DigestClient, now: float) -> Request:
    req = invite()
    first = server.verify(req, now)
    assert not first.accepted and first.reason == "missing"
    assert first.response is not None
    retry = client.retry(req, first.response)
    assert retry is not None
    return retry


@pytest.mark.parametrize(
    "algorithms", [("MD5",), ("SHA-256",), ("SHA-512-256", "MD5"), ("SHA-256-sess",)]
)
def test_round_trip_accepted(algorithms: tuple[str, ...]) -> None:
    server = make_server(algorithms=algorithms)
    retry = authenticated(server, make_client(), now=1000.0)
    verdict = server.verify(retry, now=1001.0)
    assert verdict.accepted, verdict.reason
    assert verdict.username == "alice" and verdict.response is None
    assert retry.authorization[0].algorithm == server.algorithms[0]


def test_challenge_shape() -> None:
    server = make_server(algorithms=("MD5", "SHA-512-256", "SHA-256"), opaque="op")
    resp = server.challenge(invite(), now=5.0, to_tag="tt")
    assert resp.status_code == 401
    assert resp.to is not None and resp.to.tag == "tt"
    algs = [c.algorithm for c in resp.www_authenticate]
    assert algs == ["SHA-512-256", "SHA-256", "MD5"]  # RFC 8760 §2.4 order
    assert all(c.realm == "example.com" and c.qop == "auth" for c in resp.www_authenticate)
    assert all(c.opaque == "op" and not c.stale for c in resp.www_authenticate)
    nonces = [c.nonce for c in resp.www_authenticate]
    assert len(set(nonces)) == 3
    assert all(server.check_nonce(n or "", 5.0) == "valid" for n in nonces)


def test_auth_int_round_trip_and_body_tamper() -> None:
    server = make_server(qop=("auth-int",))
    retry = authenticated(server, make_client(), now=10.0)
    assert retry.authorization[0].qop == "auth-int"
    assert server.verify(retry, now=11.0).accepted
    retry.set_body(b"v=1\n")
    verdict = server.verify(retry, now=11.0)
    assert not verdict.accepted and verdict.reason == "bad-response"


def test_wrong_password_rejected() -> None:
    server = make_server()
    retry = authenticated(server, make_client("guess"), now=10.0)
    verdict = server.verify(retry, now=11.0)
    assert not verdict.accepted and verdict.reason == "bad-response"
    assert verdict.response is not None and verdict.response.status_code == 401
    assert not any(c.stale for c in verdict.response.www_authenticate)


def test_unknown_user_rejected() -> None:
    server = make_server()
    counter = itertools.count()
    mallory = DigestClient.for_user("mallory", "x", cnonce_factory=lambda: f"c{next(counter)}")
    retry = authenticated(server, mallory, now=10.0)
    verdict = server.verify(retry, now=11.0)
    assert not verdict.accepted and verdict.reason == "unknown-user"


def test_expired_nonce_is_stale() -> None:
    server = make_server(nonce_lifetime=30.0)
    retry = authenticated(server, make_client(), now=100.0)
    assert server.verify(retry, now=129.0).accepted
    late = server.verify(retry, now=131.0)
    assert not late.accepted and late.stale and late.reason == "stale"
    assert late.response is not None and late.response.status_code == 401
    assert all(c.stale for c in late.response.www_authenticate)
    assert "stale=true" in str(late.response)


def test_expired_nonce_with_wrong_password_is_not_stale() -> None:
    server = make_server(nonce_lifetime=30.0)
    retry = authenticated(server, make_client("guess"), now=100.0)
    verdict = server.verify(retry, now=200.0)
    assert not verdict.accepted and not verdict.stale and verdict.reason == "bad-response"


def test_stale_retry_by_client_succeeds() -> None:
    server = make_server(nonce_lifetime=30.0)
    client = make_client()
    retry = authenticated(server, client, now=100.0)
    late = server.verify(retry, now=200.0)
    assert late.response is not None
    again = client.retry(retry, late.response)  # stale=true: the client retries silently
    assert again is not None
    assert server.verify(again, now=201.0).accepted


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n[:-1] + ("0" if n[-1] != "0" else "1"),  # MAC changed
        lambda n: "1" + n,  # timestamp changed
        lambda n: "garbage",
        lambda n: n.replace(".", "", 1),
    ],
)
def test_tampered_nonce_rejected_without_stale(mutate: object) -> None:
    server = make_server()
    retry = authenticated(server, make_client(), now=100.0)
    creds = retry.authorization[0]
    # Re-answer with the client's own algorithm on a forged nonce: valid digest, bad MAC.
    forged_nonce = mutate(creds.nonce)  # type: ignore[operator]
    forged = make_client().answer(
        _challenge(creds.realm or "", forged_nonce), retry.method, retry.uri_text, retry.body
    )
    assert forged is not None
    retry.headers.set("Authorization", str(forged))
    verdict = server.verify(retry, now=101.0)
    assert not verdict.accepted and verdict.reason == "invalid-nonce" and not verdict.stale
    assert verdict.response is not None
    assert not any(c.stale for c in verdict.response.www_authenticate)


def _challenge(realm: str, nonce: str):  # type: ignore[no-untyped-def]
    from sipwright.headers.auth import AuthHeader

    return AuthHeader(
        "Digest", {"realm": realm, "nonce": nonce, "algorithm": "SHA-256", "qop": "auth"}
    )


def test_nonce_from_other_secret_or_context_invalid() -> None:
    other = DigestServer("example.com", b"another-secret-0123456789", Store())
    nonce = other.new_nonce(50.0)
    assert make_server().check_nonce(nonce, 50.0) == "invalid"
    server = make_server()
    bound = server.new_nonce(50.0, context="192.0.2.1")
    assert server.check_nonce(bound, 50.0, context="192.0.2.1") == "valid"
    assert server.check_nonce(bound, 50.0, context="198.51.100.7") == "invalid"
    assert server.check_nonce(server.new_nonce(100.0), 50.0) == "invalid"  # from the future


def test_uri_mismatch_rejected() -> None:
    server = make_server()
    retry = authenticated(server, make_client(), now=10.0)
    retry.uri = "sip:carol@example.com"  # credentials say sip:bob@example.com
    verdict = server.verify(retry, now=11.0)
    assert not verdict.accepted and verdict.reason == "uri-mismatch"
    assert verdict.response is not None and verdict.response.status_code == 400


def test_equivalent_uri_accepted() -> None:
    server = make_server()
    retry = authenticated(server, make_client(), now=10.0)
    retry.uri = "sip:bob@EXAMPLE.com"  # equal by RFC 3261 §19.1.4, but hashed as written
    verdict = server.verify(retry, now=11.0)
    assert verdict.accepted


def test_replay_rejected_and_cache_bounded() -> None:
    server = make_server(replay_cache=2)
    client = make_client()
    retry = authenticated(server, client, now=10.0)
    assert server.verify(retry, now=11.0).accepted
    replay = server.verify(retry, now=12.0)
    assert not replay.accepted and replay.reason == "replay"
    # Three more nonces push the first one out: it then counts as stale, never replayable.
    for t in (20.0, 30.0, 40.0):
        assert server.verify(authenticated(server, make_client(), now=t), now=t).accepted
    assert len(server._seen) == 2
    evicted = server.verify(retry, now=41.0)
    assert not evicted.accepted and evicted.stale


def test_replay_protection_can_be_disabled() -> None:
    server = make_server(replay_cache=0)
    retry = authenticated(server, make_client(), now=10.0)
    assert server.verify(retry, now=11.0).accepted
    assert server.verify(retry, now=12.0).accepted


def test_proxy_uses_407() -> None:
    server = make_server(proxy=True)
    req = invite()
    first = server.verify(req, now=1.0)
    assert first.response is not None and first.response.status_code == 407
    assert first.response.proxy_authenticate and not first.response.www_authenticate
    retry = make_client().retry(req, first.response)
    assert retry is not None and retry.proxy_authorization
    assert server.verify(retry, now=2.0).accepted


def test_qop_and_algorithm_policy() -> None:
    md5_only = make_server(algorithms=("MD5",))
    retry = authenticated(make_server(algorithms=("SHA-256",)), make_client(), now=1.0)
    assert md5_only.verify(retry, now=2.0).reason == "algorithm"
    # An RFC 2069-style answer (no qop) is refused unless allowed.
    no_qop = make_server(qop=())
    legacy = authenticated(no_qop, make_client(), now=1.0)
    assert legacy.authorization[0].qop is None
    assert no_qop.verify(legacy, now=2.0).accepted
    strict = make_server()
    assert strict.verify(legacy, now=2.0).reason == "qop"
    assert make_server(allow_no_qop=True).verify(legacy, now=2.0).accepted


def test_malformed_credentials_get_400() -> None:
    server = make_server()
    req = invite()
    req.headers.add("Authorization", 'Digest realm="example.com", username="alice"')
    verdict = server.verify(req, now=1.0)
    assert verdict.reason == "malformed"
    assert verdict.response is not None and verdict.response.status_code == 400


def test_lookup_gets_base_algorithm_never_a_password() -> None:
    store = Store()
    server = DigestServer("example.com", SECRET, store, algorithms=("SHA-512-256-sess",))
    req = invite()
    first = server.verify(req, now=1.0)
    assert first.response is not None
    retry = make_client().retry(req, first.response)
    assert retry is not None
    assert server.verify(retry, now=2.0).accepted
    assert store.calls == [("alice", "example.com", "SHA-512-256")]


def test_server_api_takes_no_plaintext_password() -> None:
    """Only ``ha1(username, realm, password, algorithm)`` takes a password (user creation)."""
    takes_password = set()
    for name in dir(server_module):
        obj = getattr(server_module, name)
        if name.startswith("_") or getattr(obj, "__module__", None) != server_module.__name__:
            continue
        members = [(name, obj)]
        if inspect.isclass(obj):
            members += [
                (f"{name}.{m}", f)
                for m, f in vars(obj).items()
                if callable(f) and (not m.startswith("_") or m == "__init__")
            ]
        for qual, fn in members:
            if not callable(fn):
                continue
            try:
                params = inspect.signature(fn).parameters
            except (TypeError, ValueError):
                continue
            if any("pass" in p.lower() or p.lower() == "pw" for p in params):
                takes_password.add(qual)
    assert takes_password == set()
    assert "DigestServer.verify" in {
        f"DigestServer.{m}" for m in vars(DigestServer) if not m.startswith("_")
    }
    assert list(inspect.signature(ha1).parameters) == ["username", "realm", "password", "algorithm"]
    # The constructor's user lookup returns HA1 hex, never a password.
    assert list(inspect.signature(DigestServer).parameters)[:3] == ["realm", "secret", "lookup_ha1"]


def test_secret_and_config_validated() -> None:
    with pytest.raises(ValueError):
        DigestServer("r", b"short", Store())
    with pytest.raises(ValueError):
        DigestServer("r", SECRET, Store(), algorithms=("SHA-1",))
    with pytest.raises(ValueError):
        DigestServer("r", SECRET, Store(), qop=("auth-conf",))
