"""RTP and RTCP ports (RFC 3550 §11): RTP on an even port, RTCP on the next odd one."""

from __future__ import annotations

import socket

import pytest

from siplab.aio.rtp_sockets import bind_pair
from siplab.errors import LocalProtocolError

HOST = "127.0.0.1"


def test_a_free_pair_is_even_then_odd() -> None:
    for _ in range(20):  # the kernel hands out odd and even ports alike
        rtp, rtcp = bind_pair(HOST, 0, rtcp_mux=False)
        assert rtcp is not None
        port = rtp.getsockname()[1]
        assert port % 2 == 0
        assert rtcp.getsockname()[1] == port + 1
        rtp.close()
        rtcp.close()


def test_rtcp_mux_binds_one_even_port() -> None:
    rtp, rtcp = bind_pair(HOST, 0, rtcp_mux=True)
    assert rtcp is None
    assert rtp.getsockname()[1] % 2 == 0
    rtp.close()


def test_a_taken_port_is_a_clear_error() -> None:
    rtp, rtcp = bind_pair(HOST, 0, rtcp_mux=False)
    assert rtcp is not None
    port = rtp.getsockname()[1]
    with pytest.raises(LocalProtocolError, match=str(port)):
        bind_pair(HOST, port, rtcp_mux=False)
    rtp.close()
    rtcp.close()
    again, again_rtcp = bind_pair(HOST, port, rtcp_mux=False)  # free once closed
    assert again_rtcp is not None
    again.close()
    again_rtcp.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, port))
