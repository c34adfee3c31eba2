"""sipp against siplab: OPTIONS and REGISTER over UDP and TCP (RFC 3261 §10, §11, §17, §18).

sipp, the SIP traffic generator every SIP engineer knows, plays the user agent
client with the scenarios in ``tests/interop/sipp/``; siplab's
:class:`~tests.interop.responder.Responder` (a transaction layer on real
sockets) answers. Two things must hold:

* sipp is satisfied: it exits 0, which means every call got its 200 and the
  200 passed the scenario's checks (Allow lists OPTIONS; the REGISTER's
  Contact comes back with ``expires=1800``);
* siplab read what sipp wrote: for every request in sipp's own message trace
  (``-trace_msg``), the responder parsed the same method, Request-URI,
  Call-ID, CSeq, From tag, Via branch (with the ``z9hG4bK`` magic cookie,
  §8.1.1.7) and Contact. The trace is read with plain regular expressions, not
  with siplab, so the check is not circular.

sipp is started as a subprocess bound to 127.0.0.1 (``-i``, ``-ci``, a free
``-p``), stops itself after ``-m 3`` calls or ``-timeout 10s``, and is killed
if it is still running after 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from siplab.ids import BRANCH_MAGIC_COOKIE
from siplab.sip.message import Request
from siplab.sip.transport import Peer
from tests.helpers import require_peer
from tests.interop.responder import Responder

pytestmark = pytest.mark.interop

SCENARIOS = Path(__file__).parent / "sipp"
LOOPBACK = "127.0.0.1"
CALLS = 3
SIPP_TIMEOUT = 30.0  # seconds: sipp stops itself after 10 s; this is the hard bound
SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}  # one socket (UDP) or one connection (TCP)


# -- reading sipp's message trace, independently of siplab's parser -------------------------


@dataclass(frozen=True)
class SentRequest:
    """The fields of one request, as sipp's trace shows it was sent."""

    method: str
    uri: str
    call_id: str
    cseq: str
    from_tag: str
    branch: str
    via_sent_by: str
    contact: str
    expires: str | None


# Each message in the trace follows a line of dashes with a timestamp and a
# line such as "UDP message sent (395 bytes):" or "TCP message received [312] bytes :".
_TRACE_ENTRY = re.compile(r"^-{20,} [^\n]*\n(?P<what>[^\n]*)\n\n(?P<text>.*?)(?=^-{20,} |\Z)",
                          re.MULTILINE | re.DOTALL)


def _header(text: str, name: str) -> str:
    found = re.search(rf"^{name}:[ \t]*(.*?)\r?$", text, re.MULTILINE | re.IGNORECASE)
    assert found is not None, f"sipp's trace has no {name} header in:\n{text}"
    return found.group(1).strip()


def _group(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not found in {text!r}"
    return found.group(1)


def sent_requests(trace: str) -> list[SentRequest]:
    """Every request in sipp's ``-trace_msg`` file that sipp sent, in order."""
    requests = []
    for entry in _TRACE_ENTRY.finditer(trace):
        text = entry.group("text")
        if " message sent" not in entry.group("what") or text.startswith("SIP/2.0"):
            continue
        method, uri, _ = text.split("\n", 1)[0].rstrip("\r").split(" ")
        via = _header(text, "Via")
        contact = _header(text, "Contact")
        expires = re.search(r"^Expires:[ \t]*(\d+)", text, re.MULTILINE)
        requests.append(SentRequest(
            method=method,
            uri=uri,
            call_id=_header(text, "Call-ID"),
            cseq=_header(text, "CSeq"),
            from_tag=_group(r";tag=([^;>\s]+)", _header(text, "From")),
            branch=_group(r";branch=([^;,\s]+)", via),
            via_sent_by=via.split()[1].split(";")[0],
            contact=_group(r"<([^>]+)>", contact),
            expires=expires.group(1) if expires else None,
        ))
    return requests


def as_sent(request: Request) -> SentRequest:
    """The same fields, as siplab's parser read them."""
    via = request.top_via
    return SentRequest(
        method=request.method,
        uri=request.uri_text,
        call_id=request.call_id,
        cseq=f"{request.cseq.number} {request.cseq.method}",
        from_tag=request.from_tag or "",
        branch=request.branch or "",
        via_sent_by=f"{via.host}:{via.port}",
        contact=str(request.contact[0].uri),
        expires=None if request.expires is None else str(request.expires),
    )


# -- running sipp ------------------------------------------------------------------------


def free_port() -> int:
    """A port number free for both UDP and TCP on 127.0.0.1 (sipp's -p binds both in t1 mode)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


@dataclass
class SippRun:
    returncode: int
    output: str
    trace: str
    errors: str
    local_port: int
    requests: list[tuple[Request, Peer]]

    def explain(self) -> str:
        return (f"sipp exited {self.returncode}\n--- sipp output (tail) ---\n{self.output[-3000:]}"
                f"\n--- unexpected messages (-trace_err) ---\n{self.errors or '(none)'}")


async def _run_sipp(sipp: str, scenario: str, transport: str, tmp_path: Path) -> SippRun:
    trace_file = tmp_path / f"{scenario}_{transport}_messages.log"
    error_file = tmp_path / f"{scenario}_{transport}_errors.log"
    local_port = free_port()
    async with Responder(LOOPBACK) as responder:
        target = responder.udp if transport == "udp" else responder.tcp
        assert target is not None
        command = [
            sipp, f"{target.host}:{target.port}",
            "-sf", str(SCENARIOS / f"{scenario}.xml"),
            "-t", SIPP_TRANSPORT[transport],
            "-i", LOOPBACK, "-ci", LOOPBACK, "-p", str(local_port),
            "-m", str(CALLS), "-r", "10",
            "-timeout", "10s", "-timeout_error",
            "-nostdin",
            "-trace_msg", "-message_file", str(trace_file),
            "-trace_err", "-error_file", str(error_file),
        ]
        process = await asyncio.create_subprocess_exec(
            *command, cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await asyncio.wait_for(process.communicate(), SIPP_TIMEOUT)
        finally:
            if process.returncode is None:  # timed out (or the test was interrupted)
                process.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 5)
        requests = list(responder.requests)
    return SippRun(
        returncode=process.returncode if process.returncode is not None else -9,
        output=output.decode("utf-8", "replace"),
        trace=trace_file.read_text("utf-8", "replace") if trace_file.exists() else "",
        errors=error_file.read_text("utf-8", "replace") if error_file.exists() else "",
        local_port=local_port,
        requests=requests,
    )


def run_sipp(scenario: str, transport: str, tmp_path: Path) -> SippRun:
    sipp = require_peer("sipp", "sip-tester")
    return asyncio.run(_run_sipp(sipp, scenario, transport, tmp_path))


def check_parsed_as_sent(run: SippRun, transport: str, method: str) -> list[SentRequest]:
    """The common assertions: sipp passed, and siplab parsed exactly what sipp sent."""
    assert run.returncode == 0, run.explain()
    assert run.errors.strip() == "", run.explain()
    sent = sent_requests(run.trace)
    assert len(sent) == CALLS, f"expected {CALLS} requests in sipp's trace:\n{run.trace}"
    assert len({s.call_id for s in sent}) == CALLS  # one call (one Call-ID) each
    parsed = [as_sent(request) for request, _ in run.requests]
    assert parsed == sent
    for request, peer in run.requests:
        assert request.method == method
        assert peer.transport == transport
        assert peer.host == LOOPBACK
        assert request.top_via.transport == transport.upper()
        assert request.top_via.port == run.local_port
        assert request.branch is not None
        assert request.branch.startswith(BRANCH_MAGIC_COOKIE)
        assert request.missing_headers() == []
    if transport == "udp":  # over UDP the source port is the one sipp advertised
        assert {peer.port for _, peer in run.requests} == {run.local_port}
    return sent


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_responder_answers_sipp_options_with_200(transport: str, tmp_path: Path) -> None:
    run = run_sipp("options", transport, tmp_path)
    sent = check_parsed_as_sent(run, transport, "OPTIONS")
    assert [s.cseq for s in sent] == ["1 OPTIONS"] * CALLS
    assert all(s.uri == sent[0].uri and s.uri.startswith("sip:service@127.0.0.1:") for s in sent)
    assert run.trace.count("SIP/2.0 200 OK") == CALLS


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_responder_answers_sipp_register_echoing_contact_and_expires(
        transport: str, tmp_path: Path) -> None:
    run = run_sipp("register", transport, tmp_path)
    sent = check_parsed_as_sent(run, transport, "REGISTER")
    assert [s.expires for s in sent] == ["1800"] * CALLS
    assert all(s.contact == f"sip:service@127.0.0.1:{run.local_port};transport={transport.upper()}"
               for s in sent)
    for request, _ in run.requests:
        assert request.expires == 1800
        assert str(request.contact[0].uri).startswith("sip:service@127.0.0.1:")
    # sipp's check_it ereg already failed the call otherwise; the trace shows the binding too.
    assert run.trace.count(";expires=1800") == CALLS
