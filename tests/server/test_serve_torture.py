"""RFC 4475 / RFC 5118 torture requests sent over UDP to a running ``sipwright serve``.

Each request that RFC 4475 says must be answered gets the answer it names (400 with a
reason naming the fault, 416, 420, 483, 505) and the server keeps answering OPTIONS
afterwards. The server serves ``example.com`` (the torture messages' domain), so
REGISTERs reach the registrar. Every message gets one extra top Via naming our socket
(with ``rport``) so the answer comes back to us rather than to the torture's own hosts;
the torture's own Via values follow it unchanged.

Requests that fail to parse are answered by the transport (``reject_malformed``), with
the top Via copied as written when it is the faulty one.
"""

from __future__ import annotations

import csv
import socket
import time
from collections.abc import Iterator

import pytest
from peers import shared_dir

from .serve_proc import ServeProcess

TORTURE = shared_dir() / "torture"

#: file -> acceptable final status codes.
EXPECTED: dict[str, tuple[int, ...]] = {
    "clerr.dat": (400,),
    "ncl.dat": (400,),
    "quotbal.dat": (400,),
    "ltgtruri.dat": (400,),
    "trws.dat": (400,),
    "regbadct.dat": (400,),
    "badaspec.dat": (400,),
    "baddn.dat": (400,),
    "mismatch01.dat": (400,),
    "mismatch02.dat": (501, 400),
    "insuf.dat": (400,),
    "mcl01.dat": (400,),
    "rfc5118/wire/ipv6-bad.dat": (400,),
    "unkscm.dat": (416,),
    "novelsc.dat": (416, 404),
    "bext01.dat": (420,),
    "zeromf.dat": (483, 200),
    "unksm2.dat": (400,),
    "regaut01.dat": (200,),
    "cparam01.dat": (200,),
    "cparam02.dat": (200,),
    "regescrt.dat": (200,),
    "escnull.dat": (200,),
    "dblreq.dat": (200,),
    # Unparseable: answered by the transport layer before any server code runs.
    "badinv01.dat": (400,),
    "badvers.dat": (505,),
    "lwsstart.dat": (400,),
    "lwsruri.dat": (400,),
    "scalar02.dat": (400,),
    "multi01.dat": (400,),
}


def _rows() -> dict[str, str]:
    with (TORTURE / "INDEX.tsv").open(encoding="utf-8", newline="") as fh:
        return {row["file"]: row["expected"] for row in csv.DictReader(fh, delimiter="\t")}


ROWS = _rows()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    proc = ServeProcess(tmp_path_factory.mktemp("torture"), "--domain", "example.com")
    try:
        proc.wait_ready()
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, "\n".join(proc.lines[-40:])


def with_our_via(data: bytes, port: int, branch: str) -> bytes:
    end = data.find(b"\n")
    via = f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{branch};rport\r\n".encode()
    return data[: end + 1] + via + data[end + 1 :]


def exchange(server: ServeProcess, data: bytes, branch: str, timeout: float = 3.0) -> str | None:
    """Send ``data`` from a fresh socket; the first final status line, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(
            with_our_via(data, sock.getsockname()[1], branch), ("127.0.0.1", server.sip_port)
        )
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                answer = sock.recv(65535)
            except TimeoutError:
                return None
            status_line = answer.split(b"\r\n", 1)[0].decode("utf-8", "replace")
            if not status_line.startswith("SIP/2.0 1"):
                return status_line
    return None


def options_still_answered(server: ServeProcess, tag: str) -> None:
    msg = (
        f"OPTIONS sip:127.0.0.1:{server.sip_port} SIP/2.0\r\n"
        f"Max-Forwards: 70\r\nTo: <sip:127.0.0.1>\r\nFrom: <sip:t@127.0.0.1>;tag={tag}\r\n"
        f"Call-ID: alive-{tag}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    assert exchange(server, msg, f"alive-{tag}") == "SIP/2.0 200 OK"


@pytest.mark.parametrize("name", list(EXPECTED))
def test_torture_request_gets_the_rfc_answer(server: ServeProcess, name: str) -> None:
    assert name in ROWS, f"{name} is not in INDEX.tsv"
    status_line = exchange(server, (TORTURE / name).read_bytes(), name.replace("/", "-"), 2.0)
    assert status_line is not None, f"{name}: no final answer"
    code = int(status_line.split(" ", 2)[1])
    assert code in EXPECTED[name], f"{name}: {status_line}"
    if code == 400:
        reason = status_line.split(" ", 2)[2]
        assert reason and reason != "Bad Request", f"{name}: the 400 must name the fault"


def test_every_request_leaves_the_server_answering(server: ServeProcess) -> None:
    """All torture requests (also the valid ones, routed or not), then OPTIONS → 200."""
    for n, name in enumerate(sorted(ROWS)):
        data = (TORTURE / name).read_bytes()
        if data.startswith(b"SIP/"):
            continue  # responses are dropped by a proxy with no matching context
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.sendto(
                with_our_via(data, sock.getsockname()[1], f"all-{n}"),
                ("127.0.0.1", server.sip_port),
            )
    for name in sorted(ROWS):  # the responses too: they must be dropped quietly
        data = (TORTURE / name).read_bytes()
        if data.startswith(b"SIP/"):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(data, ("127.0.0.1", server.sip_port))
    options_still_answered(server, "after-all")
    assert server.proc.poll() is None
    assert not any("Traceback" in line or "level=error" in line for line in server.lines)


def tcp_exchange(server: ServeProcess, data: bytes, timeout: float = 3.0) -> bytes:
    """Send ``data`` on a fresh TCP connection; everything the server writes before closing."""
    with socket.create_connection(("127.0.0.1", server.sip_port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(65535)
            except TimeoutError:
                break
            if not chunk:
                break  # the server closed the stream
            received += chunk
        return received


def _tcp_request(extra: str, body: bytes = b"") -> bytes:
    return (
        "OPTIONS sip:example.com SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-tcp-frame\r\n"
        "Max-Forwards: 70\r\nTo: <sip:example.com>\r\nFrom: <sip:t@example.com>;tag=f\r\n"
        f"Call-ID: tcp-frame\r\nCSeq: 1 OPTIONS\r\n{extra}\r\n"
    ).encode() + body


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        # §21.5.14: a message larger than the server accepts (its limit is 65 535 bytes).
        ("Content-Length: 200000\r\n", b"513"),
        # §18.3: Content-Length is mandatory on a stream transport.
        ("", b"400"),
    ],
    ids=["oversized-513", "no-content-length-400"],
)
def test_stream_framing_error_answered_then_closed(
    server: ServeProcess, extra: str, status: bytes
) -> None:
    answer = tcp_exchange(server, _tcp_request(extra))
    assert answer.startswith(b"SIP/2.0 " + status + b" "), answer[:200]
    assert b"Call-ID: tcp-frame" in answer and b"z9hG4bK-tcp-frame" in answer
    options_still_answered(server, f"after-{status.decode()}")
