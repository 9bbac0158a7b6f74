"""RFC 4475 and RFC 5118 torture messages (``shared/torture``) against parser and validator.

``INDEX.tsv`` lists each message with the RFC section, the RFC's verdict (``expected``)
and the verdict sipwright's validator must give (``lint``). One parametrized case per
row, then targeted checks of what each RFC 4475 section says an implementation must do.
"""

from __future__ import annotations

import csv

import pytest
from peers import shared_dir

import sipwright
from sipwright import ParseError, Request, Response

TORTURE = shared_dir() / "torture"


def _rows() -> list[dict[str, str]]:
    with (TORTURE / "INDEX.tsv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = _rows()

# The rule each message expected to be invalid breaks: the finding that must report it.
EXPECTED_FINDING: dict[str, str] = {
    "badinv01.dat": "via-invalid",
    "clerr.dat": "parse-error",
    "ncl.dat": "parse-error",
    "scalar02.dat": "cseq-invalid",
    "scalarlg.dat": "cseq-invalid",
    "quotbal.dat": "to-invalid",
    "ltgtruri.dat": "parse-error",
    "lwsruri.dat": "parse-error",
    "lwsstart.dat": "parse-error",
    "trws.dat": "parse-error",
    "escruri.dat": "request-uri-headers",
    "baddate.dat": "date-invalid",
    "regbadct.dat": "contact-invalid",
    "badaspec.dat": "to-invalid",
    "baddn.dat": "parse-error",
    "badvers.dat": "parse-error",
    "mismatch01.dat": "cseq-method-mismatch",
    "mismatch02.dat": "cseq-method-mismatch",
    "bigcode.dat": "parse-error",
    "insuf.dat": "missing-header",
    "multi01.dat": "duplicate-header",
    "mcl01.dat": "parse-error",
    "rfc5118/wire/ipv6-bad.dat": "request-uri-invalid",
}


def data_of(name: str) -> bytes:
    return (TORTURE / name).read_bytes()


def parsed(name: str) -> Request | Response:
    return sipwright.parse(data_of(name))


def parsed_request(name: str) -> Request:
    msg = parsed(name)
    assert isinstance(msg, Request)
    return msg


def parse_error_of(name: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        sipwright.parse(data_of(name))
    return info.value


def test_index_is_complete() -> None:
    """Every message of RFC 4475 §3 (49) and RFC 5118 §4 (12) is listed and present."""
    assert len(ROWS) == 61
    assert all((TORTURE / row["file"]).is_file() for row in ROWS)
    invalid = {row["file"] for row in ROWS if row["lint"] == "invalid"}
    assert invalid == set(EXPECTED_FINDING)


@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_torture_verdict(row: dict[str, str]) -> None:
    """The validator's verdict matches the ``lint`` column; valid messages parse."""
    name = row["file"]
    data = data_of(name)
    report = sipwright.validate(data)
    assert report.valid == (row["lint"] == "valid"), [f.code for f in report.findings]
    if row["expected"] == "invalid" or row["lint"] == "invalid":
        codes = [f.code for f in report.errors]
        assert EXPECTED_FINDING[name] in codes, codes
        if EXPECTED_FINDING[name] == "parse-error":
            assert report.message is None
            with pytest.raises(ParseError):
                sipwright.parse(data)
    if row["lint"] == "valid":
        msg = sipwright.parse(data)
        assert isinstance(msg, Request | Response)
        assert report.errors == []


# ---------------------------------------------------------------------------
# RFC 4475 §3.1.1: valid messages
# ---------------------------------------------------------------------------


def test_wsinv_oddities() -> None:
    """§3.1.1.1: folding, odd spacing around ``: ; = /``, leading zeros, mixed-case names."""
    msg = parsed_request("wsinv.dat")
    assert msg.max_forwards == 68
    assert msg.cseq is not None and (msg.cseq.number, msg.cseq.method) == (9, "INVITE")
    assert [(v.transport, v.host) for v in msg.via] == [
        ("UDP", "192.0.2.2"),
        ("TCP", "spindle.example.com"),
        ("UDP", "192.168.255.111"),
    ]
    assert [v.branch for v in msg.via] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert msg.to is not None and msg.to.tag == "1918181833n"
    assert msg.from_ is not None and msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.from_.tag == "98asjd8"
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.headers.get("subject") == ""
    (contact,) = msg.contact
    assert contact.display_name == 'Quoted string ""'
    assert contact.q == 0.33
    assert len(msg.body) == 150


def test_intmeth_unusual_method_token() -> None:
    """§3.1.1.2: the method is any token; CSeq names the same extension method."""
    msg = parsed_request("intmeth.dat")
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.cseq is not None and msg.cseq.method == msg.method


def test_escnull_two_distinct_contacts() -> None:
    """§3.1.1.4: ``%00`` is not a terminator: the two Contacts differ."""
    msg = parsed_request("escnull.dat")
    first, second = msg.contact
    assert str(first.uri) == "sip:%00@host5.example.com"
    assert str(second.uri) == "sip:%00%00@host5.example.com"
    assert first.uri != second.uri
    assert msg.to is not None and "%00" in str(msg.to.uri)


def test_esc02_percent_that_is_not_an_escape() -> None:
    """§3.1.1.5: method ``RE%47IST%45R`` is not REGISTER; ``C%6Fntact`` is not Contact."""
    msg = parsed_request("esc02.dat")
    assert msg.method == "RE%47IST%45R"
    assert msg.method != "REGISTER"
    assert [str(c.uri) for c in msg.contact] == [
        "sip:alias1@host1.example.com",
        "sip:alias3@host3.example.com",
    ]
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert msg.to is not None and msg.to.display_name == "%Z%45"


def test_lwsdisp_display_name_against_bracket() -> None:
    """§3.1.1.6: ``caller<sip:...>``: a token display name needs no blank before ``<``."""
    msg = parsed_request("lwsdisp.dat")
    assert msg.from_ is not None
    assert msg.from_.display_name == "caller"
    assert str(msg.from_.uri) == "sip:caller@example.com"


def test_longreq_long_values_survive() -> None:
    """§3.1.1.7: kilobyte-long values must not be truncated."""
    msg = parsed_request("longreq.dat")
    assert msg.to is not None and msg.to.display_name is not None
    assert len(msg.to.display_name) > 100
    assert msg.call_id is not None and len(msg.call_id) > 100
    assert len(msg.via) > 10


def test_dblreq_trailing_invite_is_discarded() -> None:
    """§3.1.1.8: the REGISTER has Content-Length 0; the INVITE after it is discarded."""
    msg = parsed_request("dblreq.dat")
    assert msg.method == "REGISTER"
    assert msg.body == b""
    assert [code for code, _ in msg.defects] == ["trailing-message"]
    report = sipwright.validate(data_of("dblreq.dat"))
    assert report.valid
    assert [(f.code, f.severity) for f in report.warnings] == [("trailing-message", "warning")]


def test_semiuri_semicolon_belongs_to_user() -> None:
    """§3.1.1.9: ``sip:user;par=u%40example.net@example.com``: the ``;`` is in the user."""
    msg = parsed_request("semiuri.dat")
    uri = msg.uri
    assert isinstance(uri, sipwright.SipUri)
    assert uri.user == "user;par=u%40example.net"
    assert uri.host == "example.com"
    assert uri.params == ()


def test_transports_unknown_transport_token() -> None:
    """§3.1.1.10: UDP, SCTP, TLS, an unknown token and TCP in one Via list."""
    msg = parsed("transports.dat")
    assert [v.transport for v in msg.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_body_is_exactly_content_length() -> None:
    """§3.1.1.11: a binary multipart body is delimited by Content-Length only."""
    msg = parsed("mpart01.dat")
    assert msg.content_length == len(msg.body) == 553
    assert msg.content_type == "multipart/mixed"
    assert data_of("mpart01.dat").endswith(msg.body)


def test_unreason_utf8_reason_phrase() -> None:
    """§3.1.1.12: the reason phrase may be long UTF-8 text."""
    msg = parsed("unreason.dat")
    assert isinstance(msg, Response)
    assert msg.status_code == 200
    assert msg.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"


def test_noreason_empty_reason_phrase() -> None:
    """§3.1.1.13: ``SIP/2.0 100 `` CRLF: an empty reason phrase."""
    msg = parsed("noreason.dat")
    assert isinstance(msg, Response)
    assert (msg.status_code, msg.reason) == (100, "")


# ---------------------------------------------------------------------------
# RFC 4475 §3.1.2: invalid messages
# ---------------------------------------------------------------------------


def test_clerr_content_length_beyond_body() -> None:
    """§3.1.2.2: Content-Length 9999 for a 154-octet body: 400 over UDP."""
    exc = parse_error_of("clerr.dat")
    assert exc.status_code == 400
    assert "Content-Length" in exc.reason


def test_ncl_negative_content_length() -> None:
    """§3.1.2.3: Content-Length -999 is a framing error."""
    assert parse_error_of("ncl.dat").status_code == 400


def test_badvers_is_505() -> None:
    """§3.1.2.16: SIP/7.0 is answered 505 Version Not Supported."""
    exc = parse_error_of("badvers.dat")
    assert exc.status_code == 505
    report = sipwright.validate(data_of("badvers.dat"))
    assert [(f.code, f.rfc) for f in report.findings] == [("parse-error", "RFC 3261 §7.1")]


def test_bigcode_is_a_parse_error() -> None:
    """§3.1.2.19: status code 4294967301 is no status code; the response is dropped."""
    parse_error_of("bigcode.dat")


def test_baddn_unquoted_display_names() -> None:
    """§3.1.2.15: display names with ``,`` and ``.`` must be quoted (400).

    The archive file lacks the empty line after the headers (a parse error on its own);
    with it added, the To and From faults themselves are reported.
    """
    parse_error_of("baddn.dat")
    report = sipwright.validate(data_of("baddn.dat") + b"\r\n")
    assert {f.code for f in report.errors} == {"from-invalid", "to-invalid"}


def test_scalar02_cseq_out_of_range() -> None:
    """§3.1.2.4: CSeq above 2**32-1 is the reason for the 400 (Max-Forwards 300 too)."""
    report = sipwright.validate(data_of("scalar02.dat"))
    assert {f.code for f in report.errors} >= {"cseq-invalid", "max-forwards-invalid"}


# ---------------------------------------------------------------------------
# RFC 4475 §3.2-§3.4: semantics
# ---------------------------------------------------------------------------


def test_badbranch_must_parse() -> None:
    """§3.2.1: a branch that is only the magic cookie parses (warning, not error)."""
    msg = parsed("badbranch.dat")
    assert msg.via[0].branch == "z9hG4bK"
    report = sipwright.validate(data_of("badbranch.dat"))
    assert report.valid
    assert [f.code for f in report.warnings] == ["branch-cookie-only"]


def test_insuf_missing_headers_reported() -> None:
    """§3.3.1: an INVITE without Call-ID, From and To must not crash; each is reported."""
    msg = parsed_request("insuf.dat")
    assert msg.call_id is None and msg.from_ is None and msg.to is None
    report = sipwright.validate(data_of("insuf.dat"))
    missing = sorted(f.message for f in report.errors if f.code == "missing-header")
    assert missing == [
        "Call-ID header is missing",
        "From header is missing",
        "To header is missing",
    ]


def test_multi01_duplicate_headers_reported() -> None:
    """§3.3.8: repeated Call-ID, To, From, Max-Forwards and CSeq are each reported."""
    report = sipwright.validate(data_of("multi01.dat"))
    dups = [f for f in report.errors if f.code == "duplicate-header"]
    assert sorted(f.message.split()[0] for f in dups) == [
        "CSeq",
        "Call-ID",
        "From",
        "Max-Forwards",
        "To",
    ]
    assert sorted(f.line for f in dups if f.line is not None) == [7, 8, 11, 12, 16]


def test_mcl01_conflicting_content_lengths() -> None:
    """§3.3.9: Content-Length 13 and 5: framing is undefined, answer with an error."""
    exc = parse_error_of("mcl01.dat")
    assert exc.status_code == 400
    assert "conflicting Content-Length" in exc.reason


def test_regaut01_unknown_auth_scheme_parses() -> None:
    """§3.3.7: an Authorization with an unknown scheme parses and is kept as is."""
    (auth,) = parsed("regaut01.dat").authorization
    assert auth.scheme == "NoOneKnowsThisScheme"
    assert auth.params == {"opaque-data": "here"}


def test_cparam_contact_parameter_ownership() -> None:
    """§3.3.12 / §3.3.13: without ``<>`` the parameter is the Contact's; inside, the URI's."""
    (bare,) = parsed("cparam01.dat").contact
    assert "unknownparam" in bare.params
    assert str(bare.uri) == "sip:+19725552222@gw1.example.net"
    (bracketed,) = parsed("cparam02.dat").contact
    assert "unknownparam" not in bracketed.params
    assert str(bracketed.uri) == "sip:+19725552222@gw1.example.net;unknownparam"


def test_zeromf_max_forwards_zero_is_legal() -> None:
    """§3.3.11: Max-Forwards 0 is legal."""
    assert parsed("zeromf.dat").max_forwards == 0


def test_bext01_unknown_option_tags() -> None:
    """§3.3.5: unknown option tags parse so a 420 can list them in Unsupported."""
    msg = parsed("bext01.dat")
    assert msg.require == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert msg.proxy_require == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]


def test_inv2543_body_runs_to_end() -> None:
    """§3.4.1: RFC 2543-style: no Content-Length on UDP, the body is the rest."""
    data = data_of("inv2543.dat")
    msg = sipwright.parse(data)
    assert msg.content_length is None
    assert msg.body.startswith(b"v=0")
    assert data.endswith(msg.body)
    report = sipwright.validate(data)
    assert report.valid
    assert {f.code for f in report.warnings} == {
        "missing-max-forwards",
        "content-length-missing",
        "branch-missing",
        "from-tag-missing",
    }
