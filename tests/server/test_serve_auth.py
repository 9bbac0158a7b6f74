"""The proxy's ``authenticate`` hook (RFC 3261 §22.3) on a fake clock, sans network:
requests from our users need Proxy-Authorization, foreign ones pass, ACK/CANCEL/REGISTER
and in-dialog requests are never challenged, a user may not send as another (403)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sipwright.auth import DigestClient
from sipwright.message import Request
from sipwright.server.auth import Authenticator, Realms
from sipwright.server.sqlite_store import SQLiteUserStore

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


def invite(from_uri: str, *, to_tag: str | None = None, method: str = "INVITE") -> Request:
    to = "<sip:bob@example.org>" + (f";tag={to_tag}" if to_tag else "")
    return Request(
        method,
        "sip:bob@example.org",
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1"),
            ("Max-Forwards", "70"),
            ("From", f"<{from_uri}>;tag=abc"),
            ("To", to),
            ("Call-ID", "call-1"),
            ("CSeq", f"1 {method}"),
        ],
    )


def authenticator(tmp_path: Path) -> tuple[Authenticator, SQLiteUserStore]:
    users = SQLiteUserStore(tmp_path / "u.db")
    users.add("alice", "example.com", "wonderland")
    users.add("mallory", "example.com", "evil")
    realms = Realms(SECRET, users.lookup_ha1, lambda d: d, proxy=True)
    return Authenticator(realms, ["example.com"], clock=lambda: NOW), users


def test_local_user_is_challenged_then_accepted(tmp_path: Path) -> None:
    auth, users = authenticator(tmp_path)
    request = invite("sip:alice@example.com")
    challenge = auth.check(request)
    assert challenge is not None and challenge.status_code == 407
    assert challenge.headers.get("Proxy-Authenticate") is not None
    retry = DigestClient.for_user("alice", "wonderland").retry(request, challenge)
    assert retry is not None
    assert asyncio.run(auth(retry)) is None
    # Our realm's credentials are consumed before forwarding (§22.3).
    assert retry.headers.get("Proxy-Authorization") is None
    assert auth.stats["challenged"] == 1 and auth.stats["accepted"] == 1
    users.close()


def test_wrong_password_and_impersonation(tmp_path: Path) -> None:
    auth, users = authenticator(tmp_path)
    request = invite("sip:alice@example.com")
    challenge = auth.check(request)
    assert challenge is not None
    wrong = DigestClient.for_user("alice", "guess").retry(request, challenge)
    assert wrong is not None
    answer = auth.check(wrong)
    assert answer is not None and answer.status_code == 407
    impostor = DigestClient.for_user("mallory", "evil").retry(request, challenge)
    assert impostor is not None
    answer = auth.check(impostor)
    assert answer is not None and answer.status_code == 403
    users.close()


def test_exempt_and_foreign_requests_pass(tmp_path: Path) -> None:
    auth, users = authenticator(tmp_path)
    assert auth.check(invite("sip:carol@elsewhere.net")) is None
    assert auth.check(invite("sip:alice@example.com", method="ACK")) is None
    assert auth.check(invite("sip:alice@example.com", method="CANCEL")) is None
    assert auth.check(invite("sip:alice@example.com", method="REGISTER")) is None
    assert auth.check(invite("sip:alice@example.com", method="BYE", to_tag="x")) is None
    message = auth.check(invite("sip:alice@EXAMPLE.com", method="MESSAGE"))
    assert message is not None and message.status_code == 407
    assert auth.stats["passed-foreign"] == 1 and auth.stats["passed-exempt"] == 4
    users.close()
