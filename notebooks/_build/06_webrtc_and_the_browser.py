"""Source of notebooks/06_webrtc_and_the_browser.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; `%matplotlib inline` and top-level `await` are IPython's (this
# file is a notebook's source, not a module to import).
# ruff: noqa: B015, B018, E402, F704, I002, PLE1142, RUF001, RUF003

# %% [markdown]
# # 06 · WebRTC and the browser: SIP over WebSocket, ICE and DTLS-SRTP
#
# **Goals.** By the end of this notebook you can
#
# - say why a browser cannot speak SIP the way a desk phone does, and what SIP over
#   WebSocket (RFC 7118) changes: the `WS` Via, the `.invalid` Contact, the server
#   that sends everything back over the same connection;
# - read a WebRTC offer: `UDP/TLS/RTP/SAVPF`, ICE credentials and candidates, the
#   DTLS fingerprint and `a=setup`, BUNDLE and rtcp-mux;
# - make a full WebRTC call from this notebook (a siplab phone plays the browser's
#   part), hear it, and send text over its data channel;
# - open the lab's browser phone in a tab and call the notebook from it.
#
# **Prerequisites.** `00_start_here` (the lab), `04_sdp_codec_negotiation` (offers and
# answers), `05_rtp_audio` (RTP). For the last part, a browser (Chrome, Chromium or
# Firefox) on the machine that runs this notebook, or JupyterLab on Binder.
#
# **Time to learn.** About 45 minutes. Running the whole notebook takes about ten
# seconds and needs no network; calling from a browser tab is up to you.

# %% [markdown]
# ## What a browser cannot do
#
# A desk phone opens a UDP socket on port 5060 and sends SIP wherever it likes. A web
# page cannot: JavaScript gets HTTP, **WebSocket** and **WebRTC**, nothing else. So a
# browser phone (JsSIP, SIP.js) does two things differently:
#
# 1. its SIP travels over a **WebSocket** to the server (RFC 7118): one TCP
#    connection the page opens, kept open, that carries SIP messages in both
#    directions;
# 2. its audio travels with **WebRTC**, which the browser only does one way:
#    addresses found by **ICE** (RFC 8445), encryption keys agreed by **DTLS**
#    and audio encrypted as **SRTP** (RFC 5763, 5764, 3711). Plain RTP is not an
#    option.
#
# The lab server listens on WebSocket too, and siplab's phones can speak both SIP
# transports and both media paths, so this notebook can do everything a browser does.

# %%
%matplotlib inline
import asyncio
import os
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlencode

from IPython.display import Audio, display

import siplab.lab
from siplab.aio.audio import ToneSource
from siplab.lab import Trace, text_ladder
from siplab.lab.phone_server import make_server
from siplab.sdp import parse as parse_sdp

lab = await siplab.lab.start(seed=6)
trace = Trace().attach(lab.server)
print("SIP over UDP:      ", lab.url("udp"))
print("SIP over WebSocket:", lab.ws_url)

# %% [markdown]
# ## 1. SIP over WebSocket (RFC 7118)
#
# Carol's phone connects like a browser: `transport="ws"`. Look at its REGISTER:
#
# - the **Via** says `SIP/2.0/WS` and a host ending in **`.invalid`**: a browser does not
#   know its own address (it sits behind NATs and proxies), and nobody could open a
#   connection to it anyway, so it makes up a name that can never resolve (RFC 7118 §5);
# - the **Contact** is made up the same way, `sip:random@random.invalid;transport=ws`.
#
# The server therefore cannot *reach* Carol at her Contact. It remembers the
# WebSocket connection her REGISTER came on and sends every request for her over it.

# %%
carol = await lab.user_agent("carol", transport="ws", trace=trace, webrtc=True)
register = [m for m in trace.messages if m.transport == "ws" and m.label == "REGISTER"][-1]
print(register.message)

# %%
for binding in lab.server.core.location:
    print(f"{binding.aor:<22} contact {binding.contact.uri}\n{'':<22} reached over {binding.source}")

# %% [markdown]
# Bob's phone is an ordinary UDP phone. When he sends Carol a MESSAGE, the server
# bridges the two transports: the request arrives over UDP and leaves over Carol's
# WebSocket, with her `.invalid` Contact as its Request-URI and a `WS` Via on top.

# %%
bob = await lab.user_agent("bob", trace=trace)
await bob.message("carol", "Hello from a UDP phone!", timeout=5)
received = await carol.next_message(timeout=5)
print(received.request)

# %% [markdown]
# ## 2. ICE and DTLS-SRTP in the SDP
#
# Here is an offer shaped like the one JsSIP sends from Chrome (addresses from the
# documentation ranges, made-up keys). Compare it with siplab's plain offers of
# notebook 04:

# %%
browser_offer = """\
v=0
o=- 8127314402910846352 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=msid-semantic: WMS 6f1e2d3c
m=audio 54400 UDP/TLS/RTP/SAVPF 111 9 0 8 110 126
c=IN IP4 203.0.113.45
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:3442447574 1 udp 2122260223 4e1c2b0d-6a5f-4c3e-9d8b-7a6f5e4d3c2b.local 54400 typ host generation 0
a=candidate:1873452821 1 udp 1686052607 203.0.113.45 54400 typ srflx raddr 0.0.0.0 rport 0 generation 0
a=candidate:912845622 1 udp 41885439 198.51.100.7 3478 typ relay raddr 203.0.113.45 rport 54400 generation 0
a=ice-ufrag:Q8xm
a=ice-pwd:Jc0sY3kW9bT6vN2pH5rL8dF1
a=ice-options:trickle
a=fingerprint:sha-256 A0:9F:3C:5E:71:D2:44:B8:06:EA:1C:93:7F:28:C5:60:DB:12:8E:4A:F7:39:B1:0D:6C:E5:82:2F:94:57:AB:3E
a=setup:actpass
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
"""
offer = parse_sdp(browser_offer.replace("\n", "\r\n"))
audio = offer.media[0]
print("protocol:   ", audio.proto)
print("ICE:        ", "ufrag", audio.ice_ufrag, " pwd", audio.ice_pwd)
print("fingerprint:", audio.fingerprint.algorithm, audio.fingerprint.value[:23], "...")
print("setup:      ", audio.setup)
print("rtcp-mux:   ", audio.has_attribute("rtcp-mux"), "  BUNDLE:", offer.attribute("group"))
print("codecs:     ", [c.encoding for c in audio.codecs])
for candidate in audio.candidates:
    print(f"candidate:   {candidate.type:<6} {candidate.address}:{candidate.port}  "
          f"priority {candidate.priority}")

# %% [markdown]
# What each part is for:
#
# - **`UDP/TLS/RTP/SAVPF`**: RTP (with the RTCP feedback profile, *AVPF*) made
#   secure (*S*: SRTP), its keys agreed over DTLS (*TLS*), all on UDP.
# - **ICE** (`a=ice-ufrag`, `a=ice-pwd`, `a=candidate`). The `c=` line's address is
#   not trusted. Each `a=candidate` is an address where the browser might be reached:
#   a **host** candidate (its own interface; Chrome hides the IP behind a random
#   `.local` mDNS name), a **server-reflexive** one (`srflx`: its address as a STUN
#   server saw it, outside the NAT), a **relay** (`relay`: a TURN server that forwards
#   for it). Both ends send STUN checks, signed with the other's ufrag and password,
#   on every pair of candidates, and keep the best pair that works. A higher
#   **priority** is tried first: direct paths before relays.
# - **DTLS** (`a=fingerprint`, `a=setup`). Once ICE has a path, the two ends run a
#   DTLS handshake on it. Each one checks that the certificate the other shows has
#   the **fingerprint** written in its SDP: the SDP came through SIP, so whoever
#   could not change the signalling cannot sit in the middle. `a=setup:actpass` says
#   "I can be either side of the handshake"; the answer picks `active` (it starts the
#   handshake, as the DTLS client) or `passive`. The SRTP keys come out of it.
# - **`a=rtcp-mux`** and **`a=group:BUNDLE`**: RTP, RTCP (and video, and the data
#   channel) all share the one path ICE found.
#
# ### Exercise 1: the first candidate ICE tries
#
# ICE sorts candidate pairs by priority. Put the **address and port** of the browser's
# candidate with the highest priority in `first_candidate`, as a tuple
# `(address, port)`. Use `audio.candidates` rather than copying by hand.

# %% tags=["exercise"] id="exercise-first-candidate"
first_candidate = None  # (address, port)

# %% tags=["check", "raises-exception"] id="check-first-candidate"
assert first_candidate is not None, "replace None with (address, port)"
best = max(audio.candidates, key=lambda c: c.priority)
assert tuple(first_candidate) == (best.address, best.port), (
    f"{first_candidate} is not the highest priority: compare the candidates' priority field")
print(f"Correct: the {best.type} candidate {best.address}:{best.port}, priority {best.priority}.")

# %% [markdown]
# ## 3. A WebRTC call without a browser
#
# A browser cannot run inside this notebook's kernel, but a siplab phone can play its
# part: Carol's phone is on a WebSocket and was made with `webrtc=True`, so it offers
# WebRTC like a browser (with [aiortc](https://github.com/aiortc/aiortc), a WebRTC
# implementation in Python, doing ICE, DTLS and SRTP). Bob's phone is the default kind,
# which answers each offer on its own path: plain RTP for a SIP phone, WebRTC for a
# browser. Carol calls Bob:

# %%
bob.auto_answer = True
call = await carol.call("bob", webrtc=True, source=ToneSource(440, 0.3))
await call.established(timeout=15)
await call.media.connected(10)
bob_side = bob.sessions[0]
print("path:", call.path, "  codec:", call.codec, "  ICE/DTLS:", call.media.connection_state)

# %% [markdown]
# Bob's answer, the 200 OK's SDP, shows the other half: his own ICE credentials and
# candidates (127.0.0.1 only: this lab never leaves the machine), his fingerprint, and
# `a=setup:active`, so his side started the DTLS handshake.

# %%
answer = parse_sdp(bob_side.local_body.decode())
for media in answer.media:
    print(f"m={media.media} {media.port} {media.proto}  ice-ufrag {media.ice_ufrag}  "
          f"setup {media.setup}")
    for candidate in media.candidates:
        print(f"    candidate {candidate.type} {candidate.address}:{candidate.port}")
print(bob_side.local_body.decode()[:600], "...")

# %% [markdown]
# The `m=application ... webrtc-datachannel` line is a **data channel**: messages (text
# or bytes) over SCTP, inside the same DTLS connection. Let the call run for a second,
# then listen to what each side heard:

# %%
await asyncio.sleep(1.0)
print("Bob heard:", bob_side.heard, " RMS", round(bob_side.heard.rms()))
display(Audio(bob_side.heard.samples, rate=bob_side.heard.rate))
print("Carol's media:", call.media.stats().summary())

# %% [markdown]
# ### Exercise 2: a message over the data channel
#
# `session.data_channel` is the call's data channel on each side: `send(text)` sends,
# `await next_message(timeout=...)` waits for the next one. Make **Bob's side**
# (`bob_side`) send the text `ping`, and put what **Carol's side** (`call`) receives in
# `received_text`.

# %% tags=["exercise"] id="exercise-data-channel"
received_text = None  # bob_side.data_channel.send(...), then await call.data_channel...

# %% tags=["check", "raises-exception"] id="check-data-channel"
assert received_text is not None, "send from bob_side, receive on call, then fill received_text"
assert received_text == "ping", f"Carol received {received_text!r}, not 'ping'"
assert "ping" in call.data_channel.messages, "the text did not come over Carol's data channel"
print("Correct: 'ping' crossed the data channel (SCTP over DTLS over the ICE path).")

# %%
await call.bye(timeout=5)
ws_listener = lab.server.address("ws")
call_rows = [row for row in siplab.lab.flow(trace) if row.cseq.method in ("INVITE", "ACK", "BYE")]
print(text_ladder(call_rows, names={f"{lab.udp.host}:{lab.udp.port}": "server (udp)",
                                    f"{ws_listener.host}:{ws_listener.port}": "server (ws)"}))

# %% [markdown]
# The SIP part is the same ladder as any call; it just crossed from WebSocket to UDP
# at the server. The audio did not touch the server: `LabServer` relays no media, the
# two ends reached each other directly over the path ICE found.
#
# ## 4. The browser phone
#
# The lab ships a browser phone: `web/phone.html`, a page running JsSIP (or SIP.js,
# with `?lib=sipjs`). `siplab.lab.phone_server` serves it on 127.0.0.1; in JupyterLab
# on Binder or JupyterHub, jupyter-server-proxy serves it at **`/siplab-phone/`** under
# your Jupyter address. A browser allows the microphone and WebRTC only on a *secure*
# page: `http://127.0.0.1` and `https://` addresses are; `http://` from another
# machine is not.
#
# The notebook's side: Alice's phone answers every call by itself with a 440 Hz tone
# and records what it hears. Your browser tab registers as **dave** and calls Alice.

# %%
alice = await lab.user_agent("alice", trace=trace, auto_answer=True,
                             audio_source=ToneSource(440, 0.3))
dave = lab.accounts["dave"]
phone_server = make_server(quiet=True)
threading.Thread(target=phone_server.serve_forever, daemon=True).start()

fields = {"uri": dave.uri, "ws": lab.ws_url, "target": str(alice.uri)}
prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
if prefix:  # Binder, JupyterHub: through jupyter-server-proxy, on Jupyter's own address
    ws_port = lab.server.address("ws").port
    fields["ws"] = f"wss://<your Jupyter host>{prefix}proxy/{ws_port}/"
    print(f"Open {prefix}siplab-phone/ on your Jupyter address (same host as this notebook).")
    print(f"Server field: {fields['ws']}  (replace <your Jupyter host> with the host in "
          "your address bar)")
else:
    print("Open in a browser on this machine:")
    print(f"    {phone_server.url}phone.html?{urlencode(fields)}")
print()
print("Address: ", dave.uri)
print("Password:", dave.password, "  (type it in the page; it never goes in a URL)")
print("Call:    ", alice.uri)

# %% [markdown]
# In the tab: press **Register** (the log shows the 401 challenge and the 200), then
# **Call**. Allow the microphone when the browser asks. Alice's phone answers at once
# and plays its tone; whatever you say is recorded on her side.
#
# The next cell waits `WAIT_SECONDS` for a call from the browser. It is 0 here, so
# that the notebook runs straight through (as it does in the course's tests, where no
# browser is open); set it to 60, run the cell, then press Call in the tab.

# %%
WAIT_SECONDS = 0
browser_call = None
try:
    browser_call = await alice.next_invitation(timeout=WAIT_SECONDS or 0.01)
    await browser_call.established(timeout=15)
    await asyncio.sleep(3)  # talk!
except TimeoutError:
    print("No call from a browser yet. Register in the tab, set WAIT_SECONDS = 60, run "
          "this cell again and press Call.")
if browser_call is not None:
    print("a call from", browser_call.remote_identity.uri, "on the", browser_call.path,
          "path, codec", browser_call.codec)
    print("Alice heard:", browser_call.heard)
    display(Audio(browser_call.heard.samples, rate=browser_call.heard.rate))

# %% [markdown]
# What the page did is what Carol's phone did in section 3: REGISTER over a WebSocket
# with a `.invalid` Contact, then an INVITE whose SDP is a WebRTC offer much like the
# one in section 2 (with a *host* candidate on 127.0.0.1, and no STUN or TURN server).
# Its log, under the buttons, lists the library's events; add `&debug` to the page's
# address to see JsSIP's own SIP trace in the browser console.
#
# ## 5. See it in Wireshark
#
# The trace holds every SIP message of this notebook, the WebSocket ones included:
# the pcap has the TCP connection, the HTTP `GET` with `Upgrade: websocket` and its
# `101 Switching Protocols`, then SIP inside WebSocket frames. Wireshark and tshark
# find the HTTP upgrade and decode the SIP inside by themselves.

# %%
CAPTURES = Path("captures")
CAPTURES.mkdir(exist_ok=True)
pcap = trace.to_pcap(CAPTURES / "06_webrtc.pcap")
command = ["tshark", "-r", str(pcap), "-Y", "http or sip", "-d", f"udp.port=={lab.udp.port},sip"]
print("$", " ".join(command))
if shutil.which("tshark"):
    print(subprocess.run(command, capture_output=True, text=True, timeout=60).stdout)
else:
    print("(tshark is not installed here: apt install tshark, or open it in Wireshark)")

# %% [markdown]
# The media is not in this pcap: the trace records SIP only. On a live capture of a
# WebRTC call (`tshark -i lo`, or Wireshark on the loopback interface) you would see
# the STUN binding requests of ICE, the DTLS handshake (Wireshark shows the
# certificates), then SRTP: RTP headers in clear (sequence numbers and timestamps
# still work for loss and jitter) with an encrypted payload, so *Play Streams* has
# nothing to play.

# %%
phone_server.shutdown()
phone_server.server_close()
await lab.stop()

# %% [markdown]
# ## Recap
#
# - A browser speaks SIP over a **WebSocket** (RFC 7118): `Via: SIP/2.0/WS` with a
#   `.invalid` host, a `.invalid` Contact, and a server that sends everything for that
#   user back over the connection the REGISTER came on. The server bridges WebSocket
#   and UDP phones.
# - A WebRTC offer is `UDP/TLS/RTP/SAVPF`: **ICE** credentials and candidates (host,
#   srflx, relay; highest priority first) find a path; **DTLS** on that path, checked
#   against the SDP's **fingerprint** (`a=setup` says who starts), gives the **SRTP**
#   keys; **BUNDLE** and **rtcp-mux** put everything on one path.
# - siplab phones do both paths: `UserAgent(webrtc=True)` offers WebRTC like a browser,
#   the default answers whichever path the offer asks for; a WebRTC call also has a
#   **data channel** (`session.data_channel`).
# - The lab serves a JsSIP/SIP.js browser phone (`siplab.lab.phone_server`, or
#   `/siplab-phone/` under JupyterLab) that registers with the notebook's LabServer and
#   calls its phones.
#
# ## What's next
#
# `07_pcap_replay_exercises`: captures of broken calls to diagnose, and replaying a
# capture against your own phone. `08_forking_and_kamailio`: one user on several
# phones (say, a desk phone and a browser tab), and the same phones against Kamailio,
# whose WebSocket listener the browser phone can use too.
