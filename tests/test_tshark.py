"""Cross-check sipwright's parsed fields against Wireshark's SIP dissector (tshark).

Every seed example (``shared/seeds/examples/*.sip``) and every torture message that
``shared/torture/INDEX.tsv`` classes ``valid`` is written, one UDP packet each, into ONE pcap
file; tshark dissects it once per module (start-up costs ~1 s) and each message is then its own
test case comparing, field by field, what sipwright and tshark extracted:

* request method and Request-URI, or status code;
* Call-ID; CSeq number and method;
* every Via in order: transport, sent-by host and port, branch;
* From and To: URI and tag;
* every Contact URI, in order;
* Content-Length, Max-Forwards, Content-Type (media type without parameters).

tshark runs with ``-T pdml``: unlike ``-T json --no-duplicate-keys`` (which groups equal keys
into lists) PDML keeps every field in document order, which is what pairs each branch and port
with its own Via when one header line carries several comma-separated Vias.

tshark is a lenient dissector, not a validator, and has quirks. How they are handled:

* Input: tshark 4.0 does not recognise a header whose name is followed by whitespace before
  the colon (``Via  :``, ``TO :``; legal per RFC 3261 §7.3.1 ``HCOLON``): it reports
  "Unrecognised SIP header" and drops it. tshark is therefore fed a copy of each message in
  which only that whitespace (header-name lines of the header section) is removed; sipwright
  parses the original bytes. This lets tshark check *more* fields (e.g. all 34 Vias of
  longreq.dat, not 28), it never hides a field.
* Normalisation of tshark's values: surrounding whitespace is stripped (tshark keeps the LWS
  before ``;`` in an addr-spec and after a transport token; LWS is never part of a URI or
  token); the transport is upper-cased (a case-insensitive token that sipwright upper-cases);
  empty sent-by fragments tshark emits after a value it cannot parse are ignored; the
  Content-Type header value is cut to its media type and lower-cased like sipwright's
  ``content_type`` (media types are case-insensitive, RFC 2045 §5.1).
* Normalisation of sipwright's values: the brackets of an IPv6 sent-by host are removed
  (sipwright keeps ``[2001:db8::1]`` as written, tshark shows ``2001:db8::1``).
* Where tshark does not report a field at all for a message, the (message, field) pair must be
  listed in ``TSHARK_GAPS`` with the reason; a listed gap only excuses a value tshark *lacks*
  (a value tshark does report is always compared), and a listed gap that no longer excuses
  anything fails the test, so the list cannot go stale.
"""

from __future__ import annotations

import csv
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from pcap import write_pcap
from peers import require_peer, shared_dir

import sipwright

pytestmark = pytest.mark.peer

TSHARK_TIMEOUT_S = 300

# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One message of the corpus: ``name`` (the test id) and its file."""

    name: str
    path: Path

    def data(self) -> bytes:
        return self.path.read_bytes()


def collect_cases(shared: Path) -> list[Case]:
    """Seed examples, then every torture message whose lint verdict is ``valid``, in file order.

    That is the RFC's ``valid`` messages and the ``valid-semantic-error`` ones that are well
    formed (an element answers them with an error, but every field is readable).
    """
    cases = [Case(p.name, p) for p in sorted((shared / "seeds" / "examples").glob("*.sip"))]
    torture = shared / "torture"
    with (torture / "INDEX.tsv").open(newline="", encoding="utf-8") as index:
        for row in csv.DictReader(index, delimiter="\t"):
            if row["lint"] == "valid":
                path = torture / row["file"]
                cases.append(Case(path.name, path))
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), f"test ids (file names) are not unique: {names}"
    assert cases, f"no messages found under {shared}"
    for case in cases:
        assert case.path.is_file(), f"{case.path} listed but missing"
    return cases


CASES = collect_cases(shared_dir())
CASE_BY_NAME = {case.name: case for case in CASES}

#: Fields tshark 4.0.17 (Debian 12) does not report for a message although the message has
#: them. Keys are field names as used by ``compare`` ("via.branch" covers every Via).
TSHARK_GAPS: dict[str, dict[str, str]] = {
    "wsinv.dat": {
        "from.tag": "tshark finds no header parameter written with LWS around '=' "
        "(From: ...\\r\\n  ;\\r\\n  tag = 98asjd8), legal per RFC 3261 EQUAL = SWS '=' SWS",
        "to.tag": "same LWS around '=' (TO: ... ;   tag    = 1918181833n)",
        "via.branch": "in the folded, comma-separated 'v:' header tshark extracts no "
        "parameter written with LWS around '=' (branch  =   z9hG4bK9ikj8) or folded after "
        "'=' (branch=\\r\\n z9hG4bK30239); the first Via's branch is still compared",
    },
    "unksm2.dat": {
        "to.uri": "tshark reports no To URI for the non-SIP scheme isbn: (<isbn:2983792873>); "
        "RFC 3261 allows any absoluteURI there and the message must parse (RFC 4475 3.3.4)",
    },
    "intmeth.dat": {
        "cseq.method": "tshark cuts the CSeq method at its leading '!' "
        "(!interesting-Method0123456789_*+`.%indeed'~ is a legal token) and reports none",
        "max_forwards": "after that CSeq header tshark stops dissecting the header section, "
        "so the later Max-Forwards: 255 is not reported",
        "content_length": "same: the later Content-Length: 0 is not reported",
    },
}


# --------------------------------------------------------------------------------------------
# A common view of the compared fields, built from either side
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViaView:
    transport: str | None
    host: str | None
    port: int | None
    branch: str | None


@dataclass(frozen=True)
class MessageView:
    """The fields both parsers are compared on; None where the message has no such field."""

    method: str | None = None
    request_uri: str | None = None
    status_code: int | None = None
    call_id: str | None = None
    cseq_number: int | None = None
    cseq_method: str | None = None
    vias: tuple[ViaView, ...] = ()
    from_uri: str | None = None
    from_tag: str | None = None
    to_uri: str | None = None
    to_tag: str | None = None
    contacts: tuple[str, ...] = ()
    content_length: int | None = None
    max_forwards: int | None = None
    content_type: str | None = None


def _unbracket(host: str | None) -> str | None:
    """``[2001:db8::1]`` -> ``2001:db8::1`` (tshark shows IPv6 sent-by hosts unbracketed)."""
    if host is not None and host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def sipwright_view(msg: sipwright.Request | sipwright.Response) -> MessageView:
    """Read the compared fields from a message parsed by sipwright."""
    method: str | None = None
    request_uri: str | None = None
    status_code: int | None = None
    if isinstance(msg, sipwright.Request):
        method, request_uri = msg.method, str(msg.uri)
    else:
        status_code = msg.status_code
    contacts = tuple("*" if c.is_wildcard else str(c.uri) for c in msg.contact)
    from_, to, cseq = msg.from_, msg.to, msg.cseq
    return MessageView(
        method=method,
        request_uri=request_uri,
        status_code=status_code,
        call_id=msg.call_id,
        cseq_number=None if cseq is None else cseq.number,
        cseq_method=None if cseq is None else cseq.method,
        vias=tuple(ViaView(v.transport, _unbracket(v.host), v.port, v.branch) for v in msg.via),
        from_uri=None if from_ is None else str(from_.uri),
        from_tag=None if from_ is None else from_.tag,
        to_uri=None if to is None else str(to.uri),
        to_tag=None if to is None else to.tag,
        contacts=contacts,
        content_length=msg.content_length,
        max_forwards=msg.max_forwards,
        content_type=None if msg.content_type is None else msg.content_type.lower(),
    )


# tshark fields whose PDML ``value`` (hex) covers exactly the field's own octets: decoding it
# gives the bytes as written, where ``show`` escapes control characters.
_EXACT_FIELDS = frozenset(
    {
        "sip.Method",
        "sip.r-uri",
        "sip.CSeq.method",
        "sip.Via.transport",
        "sip.Via.sent-by.address",
        "sip.Via.branch",
        "sip.from.addr",
        "sip.from.tag",
        "sip.to.addr",
        "sip.to.tag",
        "sip.contact.uri",
    }
)


def _fields(element: ET.Element) -> Iterator[ET.Element]:
    """All ``<field>`` descendants in document order (nested protocols are not entered)."""
    for child in element:
        if child.tag == "field":
            yield child
            yield from _fields(child)


def _text(f: ET.Element) -> str:
    value, size = f.get("value"), f.get("size")
    if f.get("name") in _EXACT_FIELDS and value is not None and size is not None:
        if len(value) == 2 * int(size):
            return bytes.fromhex(value).decode("utf-8", "surrogateescape").strip()
    return (f.get("show") or "").strip()


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _vias_of(header: ET.Element) -> list[ViaView]:
    """The Via values of one ``sip.Via`` header field; a new value starts at each transport."""
    vias: list[ViaView] = []
    for f in _fields(header):
        name, text = f.get("name"), _text(f)
        if name == "sip.Via.transport":
            vias.append(ViaView(transport=text.upper(), host=None, port=None, branch=None))
        elif not vias or not text:
            continue  # e.g. the empty sent-by tshark emits after LWS it cannot parse
        elif name == "sip.Via.sent-by.address" and vias[-1].host is None:
            vias[-1] = replace(vias[-1], host=text)
        elif name == "sip.Via.sent-by.port" and vias[-1].port is None:
            vias[-1] = replace(vias[-1], port=_int(text))
        elif name == "sip.Via.branch" and vias[-1].branch is None:
            vias[-1] = replace(vias[-1], branch=text)
    return vias


def tshark_view(sip: ET.Element) -> MessageView:
    """Read the compared fields from one PDML ``<proto name="sip">`` element."""
    first: dict[str, str] = {}
    vias: list[ViaView] = []
    contacts: list[str] = []
    for f in _fields(sip):
        name = f.get("name") or ""
        if name == "sip.Via":
            vias.extend(_vias_of(f))
        elif name == "sip.Contact":
            uris = [_text(u) for u in _fields(f) if u.get("name") == "sip.contact.uri"]
            if not uris and _text(f) == "*":
                uris = ["*"]
            contacts.extend(uris)
        elif name not in first:
            first[name] = _text(f)
    content_type = first.get("sip.Content-Type")
    return MessageView(
        method=first.get("sip.Method"),
        request_uri=first.get("sip.r-uri"),
        status_code=_int(first.get("sip.Status-Code", "")),
        call_id=first.get("sip.Call-ID"),
        cseq_number=_int(first.get("sip.CSeq.seq", "")),
        cseq_method=first.get("sip.CSeq.method"),
        vias=tuple(vias),
        from_uri=first.get("sip.from.addr"),
        from_tag=first.get("sip.from.tag"),
        to_uri=first.get("sip.to.addr"),
        to_tag=first.get("sip.to.tag"),
        contacts=tuple(contacts),
        content_length=_int(first.get("sip.Content-Length", "")),
        max_forwards=_int(first.get("sip.Max-Forwards", "")),
        content_type=None if content_type is None else content_type.split(";")[0].strip().lower(),
    )


# --------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    mismatches: list[str] = field(default_factory=list)
    gaps_used: set[str] = field(default_factory=set)


def compare(ours: MessageView, theirs: MessageView, gaps: Mapping[str, str]) -> Comparison:
    """Compare sipwright's view (``ours``) with tshark's (``theirs``).

    A field tshark lacks (None) while sipwright has it is excused only if its name (with any
    ``[i]`` index removed) is in ``gaps``; every other difference is a mismatch.
    """
    result = Comparison()

    def check(name: str, mine: object, tshark: object) -> None:
        if mine == tshark:
            return
        gap = re.sub(r"\[\d+\]", "", name)
        if tshark is None and gap in gaps:
            result.gaps_used.add(gap)
            return
        result.mismatches.append(f"{name}: sipwright {mine!r} != tshark {tshark!r}")

    check("method", ours.method, theirs.method)
    check("request_uri", ours.request_uri, theirs.request_uri)
    check("status_code", ours.status_code, theirs.status_code)
    check("call_id", ours.call_id, theirs.call_id)
    check("cseq.number", ours.cseq_number, theirs.cseq_number)
    check("cseq.method", ours.cseq_method, theirs.cseq_method)
    check("via.count", len(ours.vias), len(theirs.vias))
    for i, (mine, tshark) in enumerate(zip(ours.vias, theirs.vias, strict=False)):
        check(f"via[{i}].transport", mine.transport, tshark.transport)
        check(f"via[{i}].host", mine.host, tshark.host)
        check(f"via[{i}].port", mine.port, tshark.port)
        check(f"via[{i}].branch", mine.branch, tshark.branch)
    check("from.uri", ours.from_uri, theirs.from_uri)
    check("from.tag", ours.from_tag, theirs.from_tag)
    check("to.uri", ours.to_uri, theirs.to_uri)
    check("to.tag", ours.to_tag, theirs.to_tag)
    check("contact", ours.contacts, theirs.contacts)
    check("content_length", ours.content_length, theirs.content_length)
    check("max_forwards", ours.max_forwards, theirs.max_forwards)
    check("content_type", ours.content_type, theirs.content_type)
    return result


# --------------------------------------------------------------------------------------------
# Running tshark once
# --------------------------------------------------------------------------------------------

_HEADER_NAME_SPACE = re.compile(rb"^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+:", re.MULTILINE)


def tshark_input(data: bytes) -> bytes:
    """The copy of a message tshark gets: ``Name  :`` -> ``Name:`` in the header section.

    Only the whitespace between a header name and its colon is removed (tshark 4.0 drops
    such headers as unrecognised); the start line, the header values and the body are kept.
    """
    start, crlf, rest = data.partition(b"\r\n")
    headers, sep, body = rest.partition(b"\r\n\r\n")
    return start + crlf + _HEADER_NAME_SPACE.sub(rb"\1:", headers) + sep + body


@dataclass(frozen=True)
class TsharkRun:
    version: str
    sip: dict[str, ET.Element | None]  # case name -> its <proto name="sip">, if dissected


@pytest.fixture(scope="module")
def tshark_run(tmp_path_factory: pytest.TempPathFactory) -> TsharkRun:
    tshark = require_peer("tshark")
    pcap = tmp_path_factory.mktemp("tshark") / "corpus.pcap"
    write_pcap(pcap, [tshark_input(case.data()) for case in CASES], sport=5060, dport=5060)
    version = subprocess.run(
        [tshark, "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()[0]
    # -n: no name resolution; -d: dissect UDP 5060 as SIP explicitly (it is the default).
    cmd = [tshark, "-n", "-r", str(pcap), "-d", "udp.port==5060,sip", "-T", "pdml"]
    proc = subprocess.run(cmd, capture_output=True, timeout=TSHARK_TIMEOUT_S, check=False)
    assert proc.returncode == 0, f"{cmd} failed: {proc.stderr.decode(errors='replace')}"
    packets = ET.fromstring(proc.stdout).findall("packet")
    assert len(packets) == len(CASES), f"tshark read {len(packets)} packets, {len(CASES)} written"
    sip: dict[str, ET.Element | None] = {}
    for case, packet in zip(CASES, packets, strict=True):
        protos = [p for p in packet.iter("proto") if p.get("name") == "sip"]
        sip[case.name] = protos[0] if protos else None
    return TsharkRun(version, sip)


def _parse(case: Case) -> sipwright.Request | sipwright.Response:
    """``sipwright.parse`` the message, skipping the case if sipwright rejects it.

    Only a rejection by ``parse`` itself skips. sipwright parses typed headers lazily, so a
    ParseError raised later, while ``sipwright_view`` reads a field of an accepted message,
    fails the test: a message sipwright accepted must have readable fields.
    """
    try:
        return sipwright.parse(case.data())
    except sipwright.ParseError as exc:
        # Out of scope here (the brief: messages sipwright parses); acceptance of valid
        # messages is the torture tests' business. Skipped loudly, never silently dropped.
        pytest.skip(f"sipwright rejects this valid message ({exc}); not cross-checked")


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fields_agree_with_tshark(case: Case, tshark_run: TsharkRun) -> None:
    msg = _parse(case)
    sip = tshark_run.sip[case.name]
    assert sip is not None, f"{tshark_run.version} did not dissect {case.name} as SIP"
    gaps = TSHARK_GAPS.get(case.name, {})
    result = compare(sipwright_view(msg), tshark_view(sip), gaps)
    assert not result.mismatches, (
        f"{case.name}: sipwright and {tshark_run.version} disagree:\n  "
        + "\n  ".join(result.mismatches)
    )
    stale = sorted(set(gaps) - result.gaps_used)
    assert not stale, f"{case.name}: TSHARK_GAPS entries no longer needed: {stale}"


def test_gap_table_names_known_cases() -> None:
    unknown = sorted(set(TSHARK_GAPS) - set(CASE_BY_NAME))
    assert not unknown, f"TSHARK_GAPS names messages not in the corpus: {unknown}"


# Negative controls: the same real message and real tshark output, with one tshark-side value
# changed; the comparison must report exactly that field. Proves the comparison can fail.
_CONTROL_CASE = "overview-invite.sip"


def _mutate_via_branch(view: MessageView) -> MessageView:
    top = replace(view.vias[0], branch="z9hG4bKnot-the-branch")
    return replace(view, vias=(top, *view.vias[1:]))


def _mutate_via_port(view: MessageView) -> MessageView:
    return replace(view, vias=(replace(view.vias[0], port=5099), *view.vias[1:]))


_MUTATIONS: dict[str, Callable[[MessageView], MessageView]] = {
    "call_id": lambda v: replace(v, call_id="deliberately-different@example.com"),
    "cseq.number": lambda v: replace(v, cseq_number=(v.cseq_number or 0) + 1),
    "via[0].branch": _mutate_via_branch,
    "via[0].port": _mutate_via_port,
    "via.count": lambda v: replace(v, vias=v.vias[1:]),
    "from.tag": lambda v: replace(v, from_tag="other-tag"),
    "to.uri": lambda v: replace(v, to_uri="sip:someone-else@example.com"),
    "contact": lambda v: replace(v, contacts=()),
    "request_uri": lambda v: replace(v, request_uri="sip:user@example.org"),
    "content_length": lambda v: replace(v, content_length=(v.content_length or 0) + 1),
}


@pytest.mark.parametrize("field_name", sorted(_MUTATIONS))
def test_comparison_detects_a_difference(field_name: str, tshark_run: TsharkRun) -> None:
    case = CASE_BY_NAME[_CONTROL_CASE]
    sip = tshark_run.sip[case.name]
    assert sip is not None
    ours = sipwright_view(sipwright.parse(case.data()))
    theirs = tshark_view(sip)
    baseline = compare(ours, theirs, {}).mismatches
    mutated = compare(ours, _MUTATIONS[field_name](theirs), {}).mismatches
    new = [m for m in mutated if m not in baseline]
    assert [m.split(":")[0] for m in new] == [field_name], new


def test_gap_excuses_only_missing_values() -> None:
    ours = MessageView(call_id="a@b", from_tag="1")
    # tshark lacks the tag: excused by a gap, reported without one.
    assert compare(ours, replace(ours, from_tag=None), {"from.tag": "why"}).mismatches == []
    assert compare(ours, replace(ours, from_tag=None), {}).mismatches
    # tshark reports a different tag: never excused.
    assert compare(ours, replace(ours, from_tag="2"), {"from.tag": "why"}).mismatches


def test_tshark_input_only_touches_header_name_whitespace() -> None:
    start = b"OPTIONS sip:a@b SIP/2.0\r\n"
    body = b"\r\nv :  body\r\n"
    data = start + b"Via  : SIP/2.0/UDP h\r\nTO :\r\n sip:x@y ; tag = 1\r\n" + body
    expected = start + b"Via: SIP/2.0/UDP h\r\nTO:\r\n sip:x@y ; tag = 1\r\n" + body
    assert tshark_input(data) == expected
