"""Source of notebooks/07_pcap_replay_exercises.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; `%matplotlib inline` and top-level `await` are IPython's (this
# file is a notebook's source, not a module to import).
# ruff: noqa: B015, B018, E402, F704, I002, PLE1142, RUF001, RUF003

# %% [markdown]
# # 07 · Captures: read them, find what broke, replay them
#
# **Goals.** By the end of this notebook you can
#
# - open a packet capture (pcap) with siplab and list its SIP messages, draw its
#   ladder and report its RTP streams the way Wireshark does;
# - find what went wrong in a broken call from its capture alone: a missing message,
#   a rejection and its reason, a lossy audio stream;
# - **replay** one side of a captured call against a live phone, read the report of
#   where the phone behaves differently, and change the phone until it matches.
#
# **Prerequisites.** `03_invite_ladder` (INVITE, ACK, CANCEL, responses),
# `05_rtp_audio` (RTP streams, loss and jitter). `02_registration` helps for the
# wrong password.
#
# **Time to learn.** About 45 minutes. Running the whole notebook takes about fifteen
# seconds and needs no network.

# %% [markdown]
# ## The captures
#
# `data/captures/` holds calls captured on a loopback interface between real peers:
# siplab's phones and LabServer, sipp and Kamailio. Some went wrong on purpose.
# `data/README.md` says how each was made (but not, on purpose, what to look for in
# the broken ones before you have looked yourself). Wireshark opens each of them too.

# %%
%matplotlib inline
import shutil
import subprocess
from pathlib import Path

import numpy as np

import siplab.lab
from siplab.lab import Trace, flow, read_pcap, rtp_streams, text_ladder
from siplab.lab.analysis import format_streams
from siplab.lab.replay import replay
from siplab.sdp import parse as parse_sdp
from siplab.sip.message import Request, Response

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "README.md").exists())
CAPTURES_IN = ROOT / "data" / "captures"
CAPTURES = Path("captures")
CAPTURES.mkdir(exist_ok=True)

for path in sorted(CAPTURES_IN.glob("*.pcap")):
    capture = read_pcap(path)
    print(f"{path.name:<32} {capture.frames:5d} frames, {len(capture.sip_messages):3d} SIP "
          f"messages, {len(capture.rtp_packets):4d} RTP packets")

# %% [markdown]
# ## 1. Reading a good call
#
# `read_pcap` reads a capture (Ethernet, IPv4/IPv6, UDP and TCP, WebSocket too) and
# finds the SIP messages and the RTP packets in it; `flow` lists the SIP messages as
# rows (time, source, destination, label), as Wireshark's *SIP Flows* does. Here is
# `call_basic.pcap`, a call that went well. The SIP server is at 127.0.0.1:5060 in
# every capture; the phones register first, so we skip the REGISTERs to see the call:

# %%
SERVER = "127.0.0.1:5060"


def call_rows(path: Path) -> list:
    """The SIP rows of a capture without the REGISTER transactions."""
    return [row for row in flow(path) if row.cseq is None or row.cseq.method != "REGISTER"]


basic = CAPTURES_IN / "call_basic.pcap"
print(text_ladder(call_rows(basic), names={SERVER: "server"}))

# %% [markdown]
# The RTP streams of the same capture, counted the way `tshark -q -z rtp,streams`
# counts them (the two numbers agree, column by column):

# %%
streams = rtp_streams(basic)
print(format_streams(streams))

# %% [markdown]
# Every stream can be plotted (`plot_stream` draws sequence numbers, jitter, gaps,
# waveform and spectrogram at once) and played. Which stream is Alice's? Her INVITE's
# SDP says which port her RTP uses (`m=audio PORT`), and RTP is symmetric: she sends
# from the port she receives on. Her stream is the melody; the key presses at its end
# travel in the same stream with another payload type (101, RFC 4733), and are not
# sound: the decoder leaves them out, a short silence.

# %%
invite = next(r.message for r in call_rows(basic) if r.label == "INVITE")
alice_rtp_port = parse_sdp(invite.body.decode()).media[0].port
melody_stream = next(s for s in streams if s.src.port == alice_rtp_port)
print(f"Alice's RTP port is {alice_rtp_port}: stream {melody_stream.ssrc:#010x}")
siplab.lab.audio(basic, melody_stream)

# %%
with np.errstate(divide="ignore"):  # the spectrogram's log10 of silence: -inf, drawn blank
    figure = siplab.lab.plot_stream(basic, melody_stream)
figure

# %% [markdown]
# ## 2. Broken calls
#
# Four captures, four ways for a call (or a registration) to fail. Read each ladder
# and ask: who sent the last message? What is the final response to the INVITE (or
# REGISTER), and who sent it? Is a message missing that RFC 3261 requires?

# %%
for name in ("call_missing_ack", "call_cancelled", "call_488_codec_mismatch",
             "register_wrong_password"):
    rows = flow(CAPTURES_IN / f"{name}.pcap")
    if name.startswith("call"):
        rows = [r for r in rows if r.cseq is None or r.cseq.method != "REGISTER"]
    print(f"=== {name}.pcap")
    print(text_ladder(rows, names={SERVER: "server"}))

# %% [markdown]
# A few things worth checking in the messages themselves. The 488 carries a
# `Warning` header (RFC 3261 §20.43) that says why, and the INVITE's SDP says what was
# offered:

# %%
rows = flow(CAPTURES_IN / "call_488_codec_mismatch.pcap")
offer = next(r.message for r in rows if r.label == "INVITE")
rejection = next(r.message for r in rows if r.label.startswith("488"))
print(offer.body.decode())
print("Warning:", rejection.headers.get("Warning"))

# %% [markdown]
# ### Exercise 1: what went wrong?
#
# a. In `call_missing_ack.pcap`, the callee's phone keeps sending its `200 OK` again
#    and again, and after 32 seconds it gives up and sends BYE. **Which message that
#    RFC 3261 requires never came?** Put its method in `missing_message` (a string,
#    such as `"PRACK"`).
#
# b. For each of the other three captures, pick the reason from this list and put its
#    letter in `diagnosis`:
#
#    - **A**: the callee was busy (486 Busy Here);
#    - **B**: the caller gave up before the callee's phone even rang (CANCEL, then 487);
#    - **C**: the two ends had no codec in common (488 Not Acceptable Here);
#    - **D**: the password was wrong (403 after the digest challenge);
#    - **E**: nobody answered in time and the proxy gave up (408 Request Timeout).

# %% tags=["exercise"] id="exercise-what-went-wrong"
missing_message = None  # e.g. "PRACK"
diagnosis = {
    "call_cancelled.pcap": None,  # a letter, A to E
    "call_488_codec_mismatch.pcap": None,
    "register_wrong_password.pcap": None,
}

# %% [markdown]
# The check reads the captures again and compares.

# %% tags=["check", "raises-exception"] id="check-what-went-wrong"
assert missing_message is not None, "fill in missing_message (a method name)"
assert None not in diagnosis.values(), "give a letter for every capture in diagnosis"
no_ack = flow(CAPTURES_IN / "call_missing_ack.pcap")
methods = {r.message.method for r in no_ack if isinstance(r.message, Request)}
assert missing_message.upper() not in methods, (
    f"{missing_message} is in the capture: look for a request that never appears")
assert missing_message.upper() == "ACK", (
    "which request must follow a 2xx to an INVITE (§13.2.2.4), and stops Timer G?")


def final_status(path: Path) -> int:
    """The first final response to the capture's INVITE (or REGISTER, for a registration)."""
    method = "REGISTER" if path.name.startswith("register") else "INVITE"
    finals = [r.message for r in flow(path) if isinstance(r.message, Response)
              and r.message.is_final and r.message.cseq.method == method]
    return finals[-1].status if method == "REGISTER" else finals[0].status


letters = {486: "A", 487: "B", 488: "C", 403: "D", 408: "E"}
for name, letter in diagnosis.items():
    status = final_status(CAPTURES_IN / name)
    assert str(letter).upper() == letters[status], (
        f"{name}: not {letter}. Its last final response is {status}: which reason gives it?")
print("Correct: the caller never sent the ACK; then B (cancelled before ringing), "
      "C (no common codec), D (wrong password).")

# %% [markdown]
# ## 3. A stream that lost packets
#
# `call_loss_jitter.pcap` is a 4-second call over a bad network: one direction lost
# packets and arrived irregularly. Which one, and how badly?

# %%
lossy_capture = CAPTURES_IN / "call_loss_jitter.pcap"
lossy_streams = rtp_streams(lossy_capture)
print(format_streams(lossy_streams))

# %% [markdown]
# Plot both streams' sequence numbers, lost packets marked with crosses, and the
# jitter (Wireshark's running value, RFC 3550 §6.4.1):

# %%
from matplotlib.figure import Figure

figure = Figure(figsize=(11, 6), layout="constrained")
axes = figure.subplots(2, 2)
for column, stream in enumerate(lossy_streams):
    siplab.lab.plot_sequence(lossy_capture, stream, ax=axes[0][column])
    siplab.lab.plot_jitter(lossy_capture, stream, ax=axes[1][column])
figure

# %% [markdown]
# Listen to the bad direction: each lost packet is 20 ms of silence in the melody.

# %%
siplab.lab.audio(lossy_capture, max(lossy_streams, key=lambda s: s.lost))

# %% [markdown]
# ### Exercise 2: which stream, how many?
#
# Put the **SSRC** of the stream that lost packets in `lossy_ssrc` (an int; the table
# prints it in hexadecimal, and Python reads `0x1234abcd`), and the number of packets
# it lost, as Wireshark counts them, in `lost_packets`.

# %% tags=["exercise"] id="exercise-lossy-stream"
lossy_ssrc = None  # e.g. 0x1234ABCD
lost_packets = None

# %% tags=["check", "raises-exception"] id="check-lossy-stream"
assert lossy_ssrc is not None and lost_packets is not None, "fill in both answers"
by_ssrc = {s.ssrc: s for s in rtp_streams(lossy_capture)}
assert lossy_ssrc in by_ssrc, f"no stream has SSRC {lossy_ssrc:#x}; there are " + ", ".join(
    f"{s:#010x}" for s in by_ssrc)
chosen = by_ssrc[lossy_ssrc]
assert chosen.lost > 0, f"stream {lossy_ssrc:#010x} lost nothing: look at the Lost column"
assert lost_packets == chosen.lost, (
    f"{lost_packets} is not what Wireshark counts for it: expected - received")
print(f"Correct: stream {chosen.ssrc:#010x} ({chosen.src} -> {chosen.dst}) lost "
      f"{chosen.lost} of {chosen.expected} packets ({chosen.lost_percent:.1f} %).")

# %% [markdown]
# ## 4. Replaying a capture against your own phone
#
# A capture shows how a call went *once*. To check that a phone still behaves that
# way (after a change, or a new version of a server), **replay** the capture: siplab
# plays one side of it, message by message, against a live phone or server, and
# compares what comes back with what the capture had. `siplab.lab.replay.replay`
# (and `siplab replay` in a terminal) rewrite what must be new (Call-ID, tags,
# branches, addresses, digest answers), run real transactions (retransmissions,
# ACKs), and report one row per step: *sent*, *ok*, or where it parts.
#
# We replay the **caller** of `call_basic.pcap` against a lab whose Bob is a phone
# we control. First, a Bob who is busy:

# %%
lab = await siplab.lab.start(seed=7)
target = f"{lab.udp.host}:{lab.udp.port}"
replay_trace = Trace().attach(lab.server)
busy_bob = await lab.user_agent("bob", trace=replay_trace)
busy_bob.on_invite = lambda invitation: invitation.reject(486)

report = await replay(basic, as_="caller", target=target, timeout=2, trace=replay_trace)
print(report)

# %% [markdown]
# The replay sent the captured INVITE (with a new Call-ID and tags, through the lab's
# server), got `100 Trying` as in the capture, and then `486 Busy Here` where the
# capture had `180 Ringing`. A final response of the wrong class ends the replay; the
# ACK for the 486 was sent by the INVITE client transaction itself (§17.1.1.3).
# `report.ok` is False and `report.first_divergence` says where:

# %%
print(report.ok, "|", report.first_divergence)
await busy_bob.stop()

# %% [markdown]
# ### Exercise 3: make Bob match the capture
#
# Here is a new Bob with no answering code at all. Write `answer_like_the_capture`,
# the function his phone calls with each incoming call (`bob.on_invite`; it may be
# `async`), so that the replay of `call_basic.pcap` matches **every** step. Look at
# the ladder of section 1 for what Bob's side did, and remember the `Invitation` verbs
# of notebook 03: `await invitation.progress()` sends 180 Ringing,
# `await invitation.accept()` answers 200 OK with an SDP answer, `reject(status)`
# refuses.

# %% tags=["exercise"] id="exercise-replay-match"
answer_like_the_capture = None  # async def answer_like_the_capture(invitation): ...

# %% [markdown]
# The check gives your function to a new Bob and replays the capture against him.

# %% tags=["check", "raises-exception"] id="check-replay-match"
assert answer_like_the_capture is not None, "write the function (async def ...)"
bob = await lab.user_agent("bob", trace=replay_trace)
bob.on_invite = answer_like_the_capture
report = await replay(basic, as_="caller", target=target, timeout=2, trace=replay_trace)
await bob.stop()
print(report)
assert report.ok, f"not yet: {report.first_divergence}"
print("Correct: every step of the captured call matched.")

# %% [markdown]
# The same from a terminal, against any SIP server or phone you can reach (here, the
# lab's server; Bob has just stopped, so this replay would end with a `480` or `404`):
#
# ```sh
# siplab replay data/captures/call_basic.pcap --as caller --target 127.0.0.1:5060
# siplab replay data/captures/call_basic.pcap --as callee --target 127.0.0.1:5060 \
#        --register --username bob --password secret     # play Bob instead
# ```
#
# ## 5. See it in Wireshark
#
# The captures in `data/captures/` open as they are, and the replays above were
# traced: write them next to this notebook and compare them with the original side by
# side. Wireshark decodes SIP on port 5060 by itself; the lab's server uses another
# port, hence `-d` for tshark (Wireshark: *Analyze → Decode As…*):

# %%
replayed = replay_trace.to_pcap(CAPTURES / "07_replay.pcap")
commands = [
    ["tshark", "-r", str(basic), "-Y", "sip"],
    ["tshark", "-r", str(replayed), "-Y", "sip", "-d", f"udp.port=={lab.udp.port},sip"],
    ["tshark", "-r", str(lossy_capture), "-q", "-z", "rtp,streams"],
]
for command in commands:
    print("$", " ".join(command))
    if shutil.which("tshark"):
        print(subprocess.run(command, capture_output=True, text=True, timeout=60).stdout)
    else:
        print("(tshark is not installed here: apt install tshark, or open it in Wireshark)")

# %%
await lab.stop()

# %% [markdown]
# In Wireshark: `wireshark data/captures/call_loss_jitter.pcap`, then *Telephony →
# RTP → RTP Streams* (the same table as `rtp_streams`), *Analyze* one stream for its
# per-packet jitter and lost sequence numbers, and *Telephony → VoIP Calls → Flow
# Sequence* for the ladder with the RTP. `data/captures/call_missing_ack.pcap` in
# *Telephony → SIP Flows* shows the 200 OK marked as retransmissions.
#
# ## Recap
#
# - `read_pcap`, `flow`, `text_ladder` / `ladder` and `rtp_streams` read a capture the
#   way Wireshark's SIP Flows and RTP Streams do; `plot_stream` and `audio` show and
#   play one stream.
# - A broken call leaves its story in the capture: a missing ACK makes the callee
#   retransmit its 200 (Timer G) and hang up after 64×T1; a CANCEL ends an INVITE with
#   487; 488 carries a Warning about the SDP; a wrong password gets 403 after the 401.
# - Loss is expected minus received sequence numbers; the lossy direction of a call
#   shows it in its Lost column, its plot and its sound.
# - `replay(capture, as_="caller", target=...)` plays one side of a capture against a
#   live system and reports, step by step, where it parts from the capture.
#
# ## What's next
#
# `08_forking_and_kamailio`: one user on several phones, the proxy that rings them
# all, Record-Route, and the same phones against Kamailio. Its capture in
# `data/captures/call_forked.pcap` is worth replaying too (`as_="callee"`).
