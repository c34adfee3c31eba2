"""Session descriptions in the shapes real user agents send, written as readable text.

Each is written from what these clients produce (line order, attributes,
payload numbers), not copied from a capture: addresses are documentation
addresses (RFC 5737) and the ids and keys are made up. ``sdp()`` turns the
indented text into the CRLF text on the wire.
"""

from __future__ import annotations

from tests.helpers import crlf

__all__ = [
    "sdp",
    "CHROME_OFFER",
    "FIREFOX_OFFER",
    "JSSIP_OFFER",
    "BARESIP_OFFER",
    "SIPP_OFFER",
    "LINPHONE_OFFER",
    "ASTERISK_ANSWER",
]


def sdp(text: str) -> str:
    """Dedent, drop the leading newline, LF -> CRLF: the text as it travels in a SIP body."""
    return crlf(text).decode("utf-8")


#: Chrome's createOffer() with audio, video and a data channel: BUNDLE, trickle ICE
#: (port 9, c=0.0.0.0, no candidates yet), DTLS fingerprint, rtcp-mux, extmap,
#: opus/red/G722/PCMU/PCMA/CN and telephone-event at two rates, VP8/VP9/H264/AV1 + rtx.
CHROME_OFFER = sdp("""
    v=0
    o=- 4611731400430051336 2 IN IP4 127.0.0.1
    s=-
    t=0 0
    a=group:BUNDLE 0 1 2
    a=extmap-allow-mixed
    a=msid-semantic: WMS 3b5c3fd4-bd9e-4a8e-9d0f-8ad5d3a6c1f1
    m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
    c=IN IP4 0.0.0.0
    a=rtcp:9 IN IP4 0.0.0.0
    a=ice-ufrag:Fa3r
    a=ice-pwd:1tuN2gTA0bI0vrMjPYuMpbV6
    a=ice-options:trickle
    a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
    a=setup:actpass
    a=mid:0
    a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
    a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
    a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
    a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
    a=sendrecv
    a=msid:3b5c3fd4-bd9e-4a8e-9d0f-8ad5d3a6c1f1 9d4611fa-fe03-4cad-81f1-63e4f764f358
    a=rtcp-mux
    a=rtcp-rsize
    a=rtpmap:111 opus/48000/2
    a=rtcp-fb:111 transport-cc
    a=fmtp:111 minptime=10;useinbandfec=1
    a=rtpmap:63 red/48000/2
    a=fmtp:63 111/111
    a=rtpmap:9 G722/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:13 CN/8000
    a=rtpmap:110 telephone-event/48000
    a=rtpmap:126 telephone-event/8000
    a=ssrc:2607947206 cname:z8aoN2l/L7oiSqrJ
    a=ssrc:2607947206 msid:3b5c3fd4-bd9e-4a8e-9d0f-8ad5d3a6c1f1 9d4611fa-fe03-4cad-81f1-63e4f764f358
    m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 102 103 35 36
    c=IN IP4 0.0.0.0
    a=rtcp:9 IN IP4 0.0.0.0
    a=ice-ufrag:Fa3r
    a=ice-pwd:1tuN2gTA0bI0vrMjPYuMpbV6
    a=ice-options:trickle
    a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
    a=setup:actpass
    a=mid:1
    a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
    a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
    a=extmap:13 urn:3gpp:video-orientation
    a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
    a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
    a=sendrecv
    a=msid:3b5c3fd4-bd9e-4a8e-9d0f-8ad5d3a6c1f1 5a7e1c2b-70d4-4c1e-8f1a-2c3d4e5f6a7b
    a=rtcp-mux
    a=rtcp-rsize
    a=rtpmap:96 VP8/90000
    a=rtcp-fb:96 goog-remb
    a=rtcp-fb:96 transport-cc
    a=rtcp-fb:96 ccm fir
    a=rtcp-fb:96 nack
    a=rtcp-fb:96 nack pli
    a=rtpmap:97 rtx/90000
    a=fmtp:97 apt=96
    a=rtpmap:98 VP9/90000
    a=rtcp-fb:98 goog-remb
    a=rtcp-fb:98 transport-cc
    a=rtcp-fb:98 ccm fir
    a=rtcp-fb:98 nack
    a=rtcp-fb:98 nack pli
    a=fmtp:98 profile-id=0
    a=rtpmap:99 rtx/90000
    a=fmtp:99 apt=98
    a=rtpmap:102 H264/90000
    a=rtcp-fb:102 goog-remb
    a=rtcp-fb:102 transport-cc
    a=rtcp-fb:102 ccm fir
    a=rtcp-fb:102 nack
    a=rtcp-fb:102 nack pli
    a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
    a=rtpmap:103 rtx/90000
    a=fmtp:103 apt=102
    a=rtpmap:35 AV1/90000
    a=rtcp-fb:35 nack
    a=rtpmap:36 rtx/90000
    a=fmtp:36 apt=35
    a=ssrc-group:FID 1918202020 3455669844
    a=ssrc:1918202020 cname:z8aoN2l/L7oiSqrJ
    a=ssrc:1918202020 msid:3b5c3fd4-bd9e-4a8e-9d0f-8ad5d3a6c1f1 5a7e1c2b-70d4-4c1e-8f1a-2c3d4e5f6a7b
    a=ssrc:3455669844 cname:z8aoN2l/L7oiSqrJ
    a=ssrc:3455669844 msid:3b5c3fd4-bd9e-4a8e-9d0f-8ad5d3a6c1f1 5a7e1c2b-70d4-4c1e-8f1a-2c3d4e5f6a7b
    m=application 9 UDP/DTLS/SCTP webrtc-datachannel
    c=IN IP4 0.0.0.0
    a=ice-ufrag:Fa3r
    a=ice-pwd:1tuN2gTA0bI0vrMjPYuMpbV6
    a=ice-options:trickle
    a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
    a=setup:actpass
    a=mid:2
    a=sctp-port:5000
    a=max-message-size:262144
""")  # noqa: E501

#: Firefox's createOffer(): the fingerprint and ice-options at session level,
#: opus at 109, explicit /1 channel counts, attributes in alphabetical order,
#: and video it only wants to receive.
FIREFOX_OFFER = sdp("""
    v=0
    o=mozilla...THIS_IS_SDPARTA-115.0 7381426851327395069 0 IN IP4 0.0.0.0
    s=-
    t=0 0
    a=fingerprint:sha-256 1E:7A:6D:E2:8C:0B:4F:91:D3:55:20:9A:BF:44:17:C8:60:EE:2D:73:A9:01:5B:C6:38:8F:D4:22:7E:90:13:AB
    a=group:BUNDLE 0 1
    a=ice-options:trickle
    a=msid-semantic:WMS *
    m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101
    c=IN IP4 0.0.0.0
    a=sendrecv
    a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
    a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level
    a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid
    a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1
    a=fmtp:101 0-15
    a=ice-pwd:e3f1a3c4b2d6e8f0a1b2c3d4e5f60718
    a=ice-ufrag:5d9c1a2b
    a=mid:0
    a=msid:{f3b0c2a1-9e8d-4c7b-a6f5-e4d3c2b1a098} {0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}
    a=rtcp-mux
    a=rtpmap:109 opus/48000/2
    a=rtpmap:9 G722/8000/1
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000/1
    a=setup:actpass
    a=ssrc:2913584730 cname:{7c6b5a49-3827-4615-a4b3-c2d1e0f9a8b7}
    m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98
    c=IN IP4 0.0.0.0
    a=recvonly
    a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid
    a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
    a=extmap:5 urn:ietf:params:rtp-hdrext:toffset
    a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1
    a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1
    a=fmtp:120 max-fs=12288;max-fr=60
    a=fmtp:124 apt=120
    a=fmtp:121 max-fs=12288;max-fr=60
    a=fmtp:125 apt=121
    a=fmtp:127 apt=126
    a=fmtp:98 apt=97
    a=ice-pwd:e3f1a3c4b2d6e8f0a1b2c3d4e5f60718
    a=ice-ufrag:5d9c1a2b
    a=mid:1
    a=rtcp-fb:120 nack
    a=rtcp-fb:120 nack pli
    a=rtcp-fb:120 ccm fir
    a=rtcp-fb:120 goog-remb
    a=rtcp-fb:121 nack
    a=rtcp-fb:121 nack pli
    a=rtcp-mux
    a=rtcp-rsize
    a=rtpmap:120 VP8/90000
    a=rtpmap:124 rtx/90000
    a=rtpmap:121 VP9/90000
    a=rtpmap:125 rtx/90000
    a=rtpmap:126 H264/90000
    a=rtpmap:127 rtx/90000
    a=rtpmap:97 H264/90000
    a=rtpmap:98 rtx/90000
    a=setup:actpass
""")  # noqa: E501

#: JsSIP in Chrome, audio only: JsSIP waits for ICE gathering, so the offer has
#: real candidates (an mDNS host name and a server-reflexive address) and port.
JSSIP_OFFER = sdp("""
    v=0
    o=- 8127314402910846352 2 IN IP4 127.0.0.1
    s=-
    t=0 0
    a=group:BUNDLE 0
    a=extmap-allow-mixed
    a=msid-semantic: WMS 6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f
    m=audio 54400 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
    c=IN IP4 203.0.113.45
    a=rtcp:9 IN IP4 0.0.0.0
    a=candidate:3442447574 1 udp 2122260223 4e1c2b0d-6a5f-4c3e-9d8b-7a6f5e4d3c2b.local 54400 typ host generation 0 network-id 1
    a=candidate:1873452821 1 udp 1686052607 203.0.113.45 54400 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-id 1
    a=ice-ufrag:Q8xm
    a=ice-pwd:Jc0sY3kW9bT6vN2pH5rL8dF1
    a=ice-options:trickle
    a=fingerprint:sha-256 A0:9F:3C:5E:71:D2:44:B8:06:EA:1C:93:7F:28:C5:60:DB:12:8E:4A:F7:39:B1:0D:6C:E5:82:2F:94:57:AB:3E
    a=setup:actpass
    a=mid:0
    a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
    a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
    a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
    a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
    a=sendrecv
    a=msid:6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
    a=rtcp-mux
    a=rtpmap:111 opus/48000/2
    a=rtcp-fb:111 transport-cc
    a=fmtp:111 minptime=10;useinbandfec=1
    a=rtpmap:63 red/48000/2
    a=fmtp:63 111/111
    a=rtpmap:9 G722/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:13 CN/8000
    a=rtpmap:110 telephone-event/48000
    a=rtpmap:126 telephone-event/8000
    a=ssrc:1349837211 cname:Xq3vB0pLr8T2mZ6w
    a=ssrc:1349837211 msid:6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
""")  # noqa: E501

#: baresip 1.0 calling out on plain RTP/AVP: opus on a dynamic number it picked,
#: telephone-event 101, a=ptime, a b=AS line and its a=tool line at session level.
BARESIP_OFFER = sdp("""
    v=0
    o=- 1592385713 3185413034 IN IP4 192.0.2.10
    s=-
    c=IN IP4 192.0.2.10
    t=0 0
    a=tool:baresip 1.0.0
    m=audio 10166 RTP/AVP 96 9 0 8 101
    b=AS:106
    a=rtpmap:96 opus/48000/2
    a=fmtp:96 stereo=1;sprop-stereo=1
    a=rtpmap:9 G722/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=sendrecv
    a=rtcp-rsize
    a=ptime:20
""")

#: sipp's built-in uac scenario: PCMU only, sipp's fixed o= numbers.
SIPP_OFFER = sdp("""
    v=0
    o=user1 53655765 2353687637 IN IP4 127.0.1.1
    s=-
    c=IN IP4 127.0.1.1
    t=0 0
    m=audio 6000 RTP/AVP 0
    a=rtpmap:0 PCMU/8000
""")

#: Linphone: session-level tool line, speex and opus, rtcp-fb for every payload
#: type (``*``), RTCP XR, and a=rtcp giving the RTCP port explicitly (RFC 3605).
LINPHONE_OFFER = sdp("""
    v=0
    o=alice 2107 3348 IN IP4 192.0.2.31
    s=Talk
    c=IN IP4 192.0.2.31
    t=0 0
    a=ice-pwd:2e4b1d7f8a0c9e3b6d5f
    a=ice-ufrag:7c3a
    a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
    a=record:off
    m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
    a=rtpmap:96 opus/48000/2
    a=fmtp:96 useinbandfec=1
    a=rtpmap:97 speex/16000
    a=fmtp:97 vbr=on
    a=rtpmap:98 speex/8000
    a=fmtp:98 vbr=on
    a=fmtp:18 annexb=yes
    a=rtpmap:101 telephone-event/48000
    a=rtpmap:99 telephone-event/16000
    a=rtpmap:100 telephone-event/8000
    a=rtcp:7079
    a=candidate:1 1 UDP 2130706431 192.0.2.31 7078 typ host
    a=candidate:1 2 UDP 2130706430 192.0.2.31 7079 typ host
    a=rtcp-fb:* trr-int 1000
    a=rtcp-fb:* ccm tmmbr
""")

#: Asterisk (chan_pjsip) answering an offer of PCMU, PCMA and telephone-event.
ASTERISK_ANSWER = sdp("""
    v=0
    o=- 1722426137 1722426139 IN IP4 192.0.2.20
    s=Asterisk
    c=IN IP4 192.0.2.20
    t=0 0
    m=audio 14562 RTP/AVP 0 8 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=ptime:20
    a=maxptime:150
    a=sendrecv
""")
