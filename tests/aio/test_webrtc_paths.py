"""Which media path a call takes, and ICE on loopback (RFC 3264 §6, RFC 8445 §5.1.1).

siplab answers what it can: a user agent for both paths (the default) answers
each offer on the offer's own path, plain RTP/AVP with its own RTP and
UDP/TLS/RTP/SAVPF with aiortc. The LabServer only signals and relays no media,
so a plain SIP phone and a WebRTC-only endpoint have no path in common: the
callee refuses with 488 Not Acceptable Here (RFC 3261 §21.4.26) and a Warning
(§20.43, code 304) that says so. That is deliberate, and asserted here.

ICE host candidates (RFC 8445 §5.1.1.1): aioice leaves 127.0.0.1 out; on a lab
running on loopback siplab gathers on 127.0.0.1 only (never on the machine's
other addresses), and in a loopback-only network namespace (``unshare --net``)
a siplab-to-siplab WebRTC call still connects.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import aioice.ice
import pytest

from siplab.aio.errors import CallFailed
from siplab.aio.webrtc import WebRtcEndpoint
from siplab.aio.webrtc_aiortc import host_addresses_scope, machine_addresses
from siplab.call import NO_COMMON_PATH, NO_MEDIA_RELAY, MediaPath
from tests.aio.phones import run
from tests.aio.test_webrtc import WAIT, phones, tone
from tests.sdp.samples import BARESIP_OFFER
from tests.test_cli_media import (  # noqa: F401  (server and processes are fixtures)
    CALL_LINE,
    USERS,
    CliProcess,
    address,
    answering,
    processes,
    server,
    start,
)

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = re.compile(rb"^a=candidate:\S+ \d+ udp \d+ (\S+) \d+ typ host", re.MULTILINE)


def refusal(failed: CallFailed) -> str:
    assert failed.status == 488
    assert failed.reason == "Not Acceptable Here"
    assert failed.warning is not None
    return failed.warning


class TestPaths:
    """One path per offer; a 488 that explains itself when the two ends share none."""

    def test_a_both_paths_phone_answers_each_offer_on_its_own_path(self) -> None:
        async def scenario() -> None:
            async with phones() as (_, alice, _bob):  # bob: webrtc=None, the default
                plain = await alice.call("bob", source=tone())
                await plain.established(timeout=WAIT)
                assert plain.path is MediaPath.PLAIN
                assert b"RTP/AVP" in plain.remote_body
                await plain.bye(timeout=WAIT)
                webrtc = await alice.call("bob", webrtc=True, source=tone())
                await webrtc.established(timeout=WAIT)
                assert webrtc.path is MediaPath.WEBRTC
                assert b"UDP/TLS/RTP/SAVPF" in webrtc.remote_body
                await webrtc.bye(timeout=WAIT)

        run(scenario(), timeout=20)

    def test_a_plain_phone_calling_a_webrtc_only_phone_gets_a_deliberate_488(self) -> None:
        async def scenario() -> None:
            async with phones(bob_options={"webrtc": True}) as (_, alice, bob):
                call = await alice.call("bob", source=tone())  # siplab offers RTP/AVP
                with pytest.raises(CallFailed) as failed:
                    await call.established(timeout=WAIT)
                warning = refusal(failed.value)
                assert warning.startswith(f"{NO_COMMON_PATH}: the offer is plain RTP")
                assert "answers WebRTC" in warning
                assert NO_MEDIA_RELAY in warning
                assert bob.open_media == []  # no peer connection was opened for it

        run(scenario(), timeout=20)

    def test_a_baresip_offer_to_a_webrtc_only_phone_gets_the_same_488(self) -> None:
        async def scenario() -> None:
            async with phones(bob_options={"webrtc": True}) as (_, alice, _bob):
                call = await alice.call("bob", body=BARESIP_OFFER.encode())
                with pytest.raises(CallFailed) as failed:
                    await call.established(timeout=WAIT)
                assert NO_MEDIA_RELAY in refusal(failed.value)

        run(scenario(), timeout=20)

    def test_a_webrtc_only_caller_gets_488_from_a_plain_only_phone(self) -> None:
        async def scenario() -> None:
            async with phones({"webrtc": True}, {"webrtc": False}) as (_, alice, _bob):
                call = await alice.call("bob", source=tone())  # alice offers WebRTC
                assert b"UDP/TLS/RTP/SAVPF" in call.local_body
                with pytest.raises(CallFailed) as failed:
                    await call.established(timeout=WAIT)
                warning = refusal(failed.value)
                assert warning.startswith(f"{NO_COMMON_PATH}: the offer is WebRTC")
                assert NO_MEDIA_RELAY in warning
                await call.terminated(timeout=WAIT)
                assert alice.open_media == []  # its peer connection is closed

        run(scenario(), timeout=20)


class TestLoopbackCandidates:
    """aioice leaves 127.0.0.1 out; siplab offers it itself, and only it, on a loopback lab."""

    def test_the_offer_and_the_answer_carry_127_0_0_1_candidates_only(self) -> None:
        async def scenario() -> None:
            async with phones() as (_, alice, _bob):
                call = await alice.call("bob", webrtc=True, source=tone())
                await call.established(timeout=WAIT)
                assert isinstance(call.media, WebRtcEndpoint)
                await call.media.connected(timeout=WAIT)
                for body in (call.local_body, call.remote_body):
                    assert set(CANDIDATE.findall(body)) == {b"127.0.0.1"}, body
                await call.bye(timeout=WAIT)

        run(scenario(), timeout=20)

    def test_outside_siplabs_scope_aioice_gathers_as_it_always_did(self) -> None:
        with host_addresses_scope(["127.0.0.1"]):
            assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]
            assert aioice.ice.get_host_addresses(False, True) == []
        assert aioice.ice.get_host_addresses(True, True) == machine_addresses()
        assert "127.0.0.1" not in machine_addresses()

    def test_a_call_connects_inside_a_loopback_only_network_namespace(self) -> None:
        """``unshare --net`` with only ``lo`` up: aioice alone finds no address at all."""
        unshare = shutil.which("unshare")
        probe = (subprocess.run([unshare, "--net", "true"], capture_output=True, check=False)
                 if unshare else None)
        if probe is None or probe.returncode != 0:
            reason = ("unshare --net is not permitted here (needs root or user namespaces): "
                      f"{probe.stderr.decode().strip() if probe else 'no unshare binary'}")
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        script = f"ip link set lo up && exec {sys.executable} -m tests.aio.webrtc_netns_call"
        done = subprocess.run([unshare, "--net", "sh", "-c", script], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["machine_addresses"] == []  # nothing but loopback in there
        assert result["offer_candidates"] == result["answer_candidates"] == ["127.0.0.1"]
        assert result["connection"] == "connected"
        assert result["codec"] == "PCMU"
        assert result["received"] >= 25
        assert abs(result["frequency"] - 1000.0) <= 2.0


class TestCommandLine:
    """``siplab answer`` takes a WebRTC offer like a plain one; ``siplab call --webrtc``."""

    def test_call_with_webrtc_reaches_answer_and_both_print_their_line(
            self, server: dict[str, tuple[str, int]],  # noqa: F811  (the imported fixtures)
            processes: list[CliProcess]) -> None:  # noqa: F811
        answer = answering(processes, server, "--tone", "440", "--codecs", "PCMA")
        call = start(processes, "call", "pybot", "--user", "alice", "--password",
                     USERS["alice"], "--server", address(server), "--codecs", "PCMA",
                     "--tone", "1000", "--duration", "1.2", "--webrtc")
        assert call.finish(timeout=30) == 0, call.err
        mine = CALL_LINE.match(call.out[0])
        assert mine is not None, call.out
        assert mine["codec"] == "PCMA"
        assert int(mine["received"]) >= 40
        theirs = answer.wait_for(CALL_LINE)
        assert (theirs["way"], theirs["codec"]) == ("from", "PCMA")
        assert int(theirs["received"]) >= 40
