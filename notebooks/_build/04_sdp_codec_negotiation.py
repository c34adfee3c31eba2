"""Source of notebooks/04_sdp_codec_negotiation.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; `%matplotlib inline` and top-level `await` are IPython's (this
# file is a notebook's source, not a module to import).
# ruff: noqa: B015, B018, F704, I002, PLE1142, RUF003

# %% [markdown]
# # 04 · SDP: offers, answers and codec negotiation
#
# **Goals.** By the end of this notebook you can
#
# - read a session description (SDP) line by line: who, where, which codecs, which
#   direction;
# - explain the **offer/answer** rules of RFC 3264: the answerer keeps what it can take
#   in *its* order of preference, the first codec of the answer is the one used, and a
#   dynamic payload type keeps the offerer's number;
# - tell static payload types from dynamic ones, and say which `telephone-event` (DTMF)
#   goes with which codec;
# - put a call on hold with a re-INVITE and predict the direction of every answer;
# - recognise a call that fails with `488 Not Acceptable Here` because the phones share
#   no codec, and read why;
# - work through the offer/answer examples of RFC 4317 with siplab.
#
# **Prerequisites.** `03_invite_ladder` (the INVITE carries the offer, the 200 OK the
# answer; re-INVITE).
#
# **Time to learn.** About 45 minutes. The notebook runs in a few seconds.

# %%
%matplotlib inline
import shutil
import subprocess
from pathlib import Path

from IPython.display import Markdown, display

import siplab.lab
from siplab.aio import CallFailed
from siplab.lab import Trace, text_ladder
from siplab.sdp import (
    Capabilities,
    NegotiationError,
    answer,
    create_offer,
    negotiate,
    parse,
    process_answer,
    update_offer,
)


def table(rows: list[dict[str, object]]) -> Markdown:
    """Show a list of dicts as a table (one row per dict, the keys as columns)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (str(row[c]).replace("|", "\\|") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return Markdown("\n".join(lines))


def side_by_side(left_title: str, left: object, right_title: str, right: object) -> Markdown:
    """Two SDP bodies next to each other, line by line."""
    a, b = str(left).splitlines(), str(right).splitlines()
    a += [""] * (len(b) - len(a))
    b += [""] * (len(a) - len(b))
    return table([{left_title: f"`{x}`" if x else "", right_title: f"`{y}`" if y else ""}
                  for x, y in zip(a, b, strict=True)])

# %% [markdown]
# ## 1. The SDP of a real call
#
# When Alice calls, her INVITE carries a body of type `application/sdp`: the
# **offer**, a description of the session she proposes. Bob's 200 OK carries the
# **answer**. Together they fix, for each stream, where to send the audio, with which
# codec, and in which direction. SIP carries them; SDP
# ([RFC 8866](https://www.rfc-editor.org/rfc/rfc8866)) is what they say. A live call:

# %%
lab = await siplab.lab.start(seed=4)
trace = Trace().attach(lab.server)
alice = await lab.user_agent("alice", trace=trace)
bob = await lab.user_agent("bob", trace=trace)
names = {f"{p.host}:{p.port}": name for p, name in ((lab.udp, "proxy"), (alice.local, "alice"),
                                                    (bob.local, "bob"))}
trace.clear()
call = await alice.call("bob")
incoming = await bob.next_invitation(timeout=5)
await incoming.accept()
await call.established(timeout=5)
side_by_side("Alice's offer (in the INVITE)", call.local_body.decode(),
             "Bob's answer (in the 200 OK)", call.remote_body.decode())

# %% [markdown]
# Every line is `<letter>=<value>`, in a fixed order:
#
# | line | meaning |
# |---|---|
# | `v=0` | the version; always 0 |
# | `o=- <id> <version> IN IP4 127.0.0.1` | origin: user name, **session id**, **version** (goes up by one each time its owner changes the description), address |
# | `s=` | a session name, unused by phones |
# | `c=IN IP4 127.0.0.1` | the **connection address**: where to send media to this side |
# | `t=0 0` | when: `0 0` means "whenever", always so in SIP |
# | `m=audio <port> RTP/AVP 0 8 9 111 101 110` | a **media stream**: type, the **port** to send RTP to, the protocol, and the **formats**: RTP *payload type* numbers, in order of preference |
# | `a=rtpmap:111 opus/48000/2` | what a payload number means: encoding, RTP clock rate, channels |
# | `a=fmtp:111 ...` | format parameters for one payload type |
# | `a=ptime:20` | milliseconds of audio per packet |
# | `a=sendrecv` | the **direction**: `sendrecv`, `sendonly`, `recvonly` or `inactive` |
#
# siplab reads it into objects with `siplab.sdp.parse` (and `str()` writes it back,
# unchanged):

# %%
offer_sd = parse(call.local_body)
audio = offer_sd.media[0]
print("session id", offer_sd.origin.session_id, "version", offer_sd.origin.session_version)
print("send audio to", offer_sd.connection_of(audio).host, "port", audio.port,
      "- direction", offer_sd.direction_of(audio))
table([{"payload type": c.payload_type, "encoding": c.encoding, "fmtp": c.fmtp or ""}
       for c in audio.codecs])

# %% [markdown]
# Alice's phone offered four codecs, best first (siplab phones prefer G.711: every
# phone has it, and its samples are easy to read), and two `telephone-event` formats for
# DTMF. Bob's phone kept the same list, in *its* order of preference, which here is the
# same. So the call uses the first one, **PCMU** (G.711 µ-law). `call.negotiation`
# explains every decision; this is Alice's view, the *offerer's*:

# %%
print(call.negotiation.explain())
sending = call.negotiation.audio
print(f"\nAlice sends {sending.codec_name} as payload type {sending.payload_type} to "
      f"{sending.remote_address}:{sending.remote_port}, every {sending.ptime} ms")

# %% [markdown]
# ## 2. Payload types: static and dynamic
#
# RTP packets do not name their codec; they carry a 7-bit **payload type** number, and
# the SDP says what each number means for this call. RFC 3551 fixed a few numbers once
# and for all: the **static** payload types, such as 0 for PCMU, 8 for PCMA, 9 for
# G722. Any other codec gets a **dynamic** number from 96 to 127, chosen by the
# offerer, and then an `a=rtpmap` line is required. `create_offer` writes the first
# offer of a call from a phone's `Capabilities` (its codecs, best first):

# %%
offer = create_offer(Capabilities(audio=("opus", "PCMA", "PCMU")), session_id=1000,
                     address="192.0.2.10", audio_port=49170)
print(offer)
table([{"pt": c.payload_type, "encoding": c.encoding,
        "kind": "static (RFC 3551)" if c.payload_type < 96 else "dynamic (a=rtpmap required)",
        "fmtp": c.fmtp or ""} for c in offer.media[0].codecs])

# %% [markdown]
# siplab picks the numbers most phones use for the dynamic ones (111 for Opus, 101 for
# telephone-event at 8000 Hz, 110 at 48000 Hz, like Chrome); any free number from 96
# would do.
#
# ## 3. The answer (RFC 3264 §6)
#
# The answerer builds its answer stream by stream:
#
# 1. **one `m=` line per offered one**, in the same order; a stream it will not take is
#    answered with **port 0** (rejected), not left out;
# 2. for each accepted stream, the offered formats it can take, **in its own order of
#    preference**; the first is the codec both sides send with;
# 3. a dynamic payload type **keeps the offerer's number**;
# 4. the direction **mirrors** the offer's (next section);
# 5. if nothing at all can be accepted, there is no answer: `488 Not Acceptable Here`.
#
# `negotiate(offer, capabilities)` answers and explains. The same offer, answered by two
# phones with different tastes:

# %%
by_bob = negotiate(offer, Capabilities(audio=("PCMU", "PCMA", "opus")), address="192.0.2.20",
                   port=51000, session_id=2000)
by_carol = negotiate(offer, Capabilities(audio=("G722", "PCMA")), address="192.0.2.30",
                     port=52000, session_id=3000)
print("Bob's answer:  ", by_bob.answer.media[0].lines()[0], "-> codec", by_bob.chosen.encoding)
print("Carol's answer:", by_carol.answer.media[0].lines()[0], "-> codec", by_carol.chosen.encoding)
table(by_carol.table())

# %% [markdown]
# Bob prefers PCMU, so his answer starts with 0 although Alice listed Opus first: the
# **answerer's** preference wins, among what was offered. Carol's favourite, G722, was
# not offered at all; she takes PCMA, and keeps telephone-event 101 at 8000 Hz, the
# clock rate of PCMA. Back at the offerer, `process_answer` reads the answer into what
# the RTP layer needs:

# %%
alice_view = process_answer(offer, by_carol.answer)
params = alice_view.audio
print(f"send {params.codec_name}/{params.clock_rate} as payload type {params.payload_type} to "
      f"{params.remote_address}:{params.remote_port}, {params.ptime} ms per packet, "
      f"DTMF as payload type {params.telephone_event_pt}, direction {params.direction}")

# %% [markdown]
# ## Exercise: predict the answer
#
# Dave's phone offers `create_offer(Capabilities(audio=("opus", "G722", "PCMU")))`
# (print it if you like). Erin's phone accepts `Capabilities(audio=("PCMU", "G722"))`,
# with telephone-event. Which formats does Erin's `m=audio` line list, in order? Put
# them in `erin_formats`, as a list of payload type numbers.

# %% tags=["exercise"] id="exercise-predict-answer"
erin_formats = None  # a list of payload type numbers, in the answer's order

# %% tags=["check", "raises-exception"] id="check-predict-answer"
assert erin_formats is not None, "replace None with a list of numbers"
dave_offer = create_offer(Capabilities(audio=("opus", "G722", "PCMU")))
erin = negotiate(dave_offer, Capabilities(audio=("PCMU", "G722")))
actual = erin.answer.media[0].formats
given = [str(pt) for pt in erin_formats]
assert set(given) == set(actual), (
    f"not the right formats: the answer keeps the offered ones Erin can take, and the "
    f"telephone-event at the clock rate of what she keeps. Offer: "
    f"{dave_offer.media[0].lines()[0]}")
assert given == actual, "the right formats, in the wrong order: whose preference counts?"
print("Correct:", erin.answer.media[0].lines()[0])
print(erin.explain())

# %% [markdown]
# ## 4. DTMF: telephone-event (RFC 4733)
#
# Pressing a key during a call ("press 1 for sales") must reach the other side even
# when the codec would distort the tone. RFC 4733 sends the digits as RTP **events** of
# their own payload type, `telephone-event`, with `a=fmtp:101 0-16` listing the events
# (digits 0-9, `*`, `#`, A-D, flash). The events are timed with the **clock of the
# audio**, so an offer lists one telephone-event per clock rate, and the answerer keeps
# the one that matches the codec it chose:

# %%
both_rates = create_offer(Capabilities(audio=("opus", "PCMU")), session_id=4000)
print(both_rates.media[0].lines()[0])
for caps in (Capabilities(audio=("opus",)), Capabilities(audio=("PCMU",))):
    result = negotiate(both_rates, caps)
    events = [r for r in result.table() if "telephone-event" in str(r["codec"])]
    print(f"answerer {caps.audio}: {result.answer.media[0].lines()[0]}")
    for row in events:
        print(f"    {row['codec']:<22} {row['result']:<8} {row['reason']}")

# %% [markdown]
# ## 5. Hold: a re-INVITE with a new offer (RFC 3264 §8)
#
# Either side may change the session during the call by sending a new offer in a
# **re-INVITE**: same dialog, next CSeq, an SDP with the **same session id and the
# version one higher**, and the same `m=` lines in the same order. Putting a call on
# hold is such a change (§8.4): the holder marks its stream `sendonly` (it keeps
# sending, say music on hold, but stops listening); the other side answers `recvonly`.
# Resuming goes back to `sendrecv`. The direction of an answer always **mirrors** the
# offer's, limited by what the answerer wants itself.

# %%
trace.clear()
await call.hold(timeout=5)
held_offer, held_answer = parse(call.local_body), parse(call.remote_body)
print("Alice on hold:", call.on_hold, "- her offer says", held_offer.direction_of(held_offer.media[0]),
      "(version", held_offer.origin.session_version, "), Bob's answer says",
      held_answer.direction_of(held_answer.media[0]))
await call.unhold(timeout=5)
resumed = parse(call.local_body)
print("Resumed:", resumed.direction_of(resumed.media[0]), "(version",
      resumed.origin.session_version, ")")
await call.bye(timeout=5)
siplab.lab.ladder(trace, names=names, sdp=True, cseq=True,
                  title="Hold and resume: two re-INVITEs, then BYE")

# %% [markdown]
# The labels under the arrows summarise the SDP each message carried (`offer` or
# `answer`, the codecs, the direction when it is not `sendrecv`). Offline, the same
# steps are `update_offer` on the last description we sent:

# %%
on_hold = update_offer(offer, hold=True)
side_by_side("first offer", offer, "re-INVITE: hold", on_hold)

# %% [markdown]
# ## Exercise: mirrored directions
#
# For each direction an offer may carry, what direction does a phone that has no
# wishes of its own (it would like `sendrecv`) write in its answer? Fill in the
# dictionary.

# %% tags=["exercise"] id="exercise-directions"
answer_directions = {"sendrecv": None, "sendonly": None, "recvonly": None, "inactive": None}

# %% tags=["check", "raises-exception"] id="check-directions"
assert None not in answer_directions.values(), "fill in every direction"
for offered, predicted in answer_directions.items():
    answered = negotiate(update_offer(offer, direction=offered), Capabilities()).streams[0]
    assert str(predicted) == answered.direction.value, (
        f"an offer saying {offered} is not answered {predicted}: the answer says what the "
        "*answerer* does. If Alice only sends, what does Bob do?")
print("Correct:", ", ".join(f"{o} -> {a}" for o, a in answer_directions.items()))

# %% [markdown]
# ## 6. No codec in common: 488 Not Acceptable Here
#
# If an answerer can accept nothing in the offer, it cannot answer, and it refuses the
# INVITE with `488 Not Acceptable Here` (§13.3.1.3), with a `Warning` header saying why
# (`304 Media type not available`, `305 Incompatible media format`). Carol's phone only
# speaks PCMA, Dave's only PCMU:

# %%
trace.clear()
carol = await lab.user_agent("carol", codecs=("PCMA",), trace=trace)
dave = await lab.user_agent("dave", codecs=("PCMU",), trace=trace)
trace.clear()
attempt = await carol.call("dave")
ringing_dave = await dave.next_invitation(timeout=5)
try:
    await ringing_dave.accept()
except NegotiationError as refused:
    print(f"Dave's phone refused: {refused.status} {refused.reason}")
    print(refused.negotiation.explain())
try:
    await attempt.established(timeout=5)
except CallFailed as failure:
    print(f"\nCarol's call failed: {failure.status} {failure.reason} ({failure.cause})")
refusal = next(w.message for w in trace.messages if w.label.startswith("488"))
print("the 488's Warning header:", refusal.headers.get("Warning"))
print(text_ladder(trace, names=names | {f"{carol.local.host}:{carol.local.port}": "carol",
                                         f"{dave.local.host}:{dave.local.port}": "dave"}))

# %% [markdown]
# `negotiate` raises the same `NegotiationError` offline, with the status a phone
# answers (488) and the table of reasons:

# %%
try:
    negotiate(create_offer(Capabilities(audio=("PCMA",))), Capabilities(audio=("PCMU",)))
except NegotiationError as refused:
    print(refused.status, refused.reason, "-", refused)

# %% [markdown]
# ## 7. The RFC 4317 examples, worked through
#
# [RFC 4317](https://www.rfc-editor.org/rfc/rfc4317) ("SDP Offer/Answer Examples")
# shows offers and answers for the common cases. Here siplab plays Bob, with the
# capabilities each section gives him, answering Alice's offers from the RFC (written
# with `s=-` where the RFC has `s= `). siplab's answers also carry `a=ptime` and an
# explicit direction, which the RFC leaves out.

# %%
def alice_sdp(media: str, *, version: int = 2890844526, address: str = "host.atlanta.example.com") -> str:
    """Alice's SDP as RFC 4317 writes it: her session lines, then `media`."""
    head = (f"v=0\no=alice 2890844526 {version} IN IP4 host.atlanta.example.com\ns=-\n"
            f"c=IN IP4 {address}\nt=0 0\n")
    return (head + media.strip() + "\n").replace("\n", "\r\n")


def as_bob(offer_text, caps: Capabilities, **options):
    """Bob's answer and its explanation, with Bob's o= line from RFC 4317."""
    return negotiate(offer_text, caps, address="host.biloxi.example.com", username="bob",
                     session_id=2808844564, session_version=2808844564, **options)


AUDIO_VIDEO = alice_sdp("""
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
""")

# %% [markdown]
# ## Exercise: RFC 4317 §2.1, Bob's capabilities
#
# In §2.1 Alice offers the audio and video above. Bob supports only **PCMU** for audio
# and **MPV** (MPEG video, `"MPV/90000"`: codecs siplab does not know by name are
# written with their clock rate) for video, and no telephone-event. The RFC's answer is:
#
# ```text
# m=audio 49174 RTP/AVP 0
# a=rtpmap:0 PCMU/8000
# m=video 49170 RTP/AVP 32
# a=rtpmap:32 MPV/90000
# ```
#
# Write Bob's `Capabilities` in `bob_caps` so that siplab gives that answer (the check
# passes the ports `[49174, 49170]`).

# %% tags=["exercise"] id="exercise-rfc4317-caps"
bob_caps = None  # Capabilities(audio=(...), video=(...), telephone_event=...)

# %% tags=["check", "raises-exception"] id="check-rfc4317-caps"
assert bob_caps is not None, "replace None with Bob's Capabilities"
section_2_1 = as_bob(AUDIO_VIDEO, bob_caps, port=[49174, 49170])
m_lines = [media.lines()[0] for media in section_2_1.answer.media]
assert m_lines == ["m=audio 49174 RTP/AVP 0", "m=video 49170 RTP/AVP 32"], (
    f"Bob's m-lines are {m_lines}:\n{section_2_1.explain()}")
assert section_2_1.answer.media[0].attribute_values("rtpmap") == ["0 PCMU/8000"]
print("Correct: RFC 4317 §2.1's answer.")
print(section_2_1.answer)

# %% [markdown]
# **§2.2: video declined, then audio narrowed.** Bob takes PCMU and PCMA but no video:
# he answers the video stream with port 0. Alice then sends a second offer (a
# re-INVITE, version + 1) keeping only PCMU and the disabled video line; Bob's second
# answer follows, with its version one higher too (`previous=` is his first answer).

# %%
caps_2_2 = Capabilities(audio=("PCMU", "PCMA"))
first = as_bob(AUDIO_VIDEO, caps_2_2, port=49172)
display(side_by_side("Alice's offer", AUDIO_VIDEO, "Bob's answer", first.answer))
second_offer = alice_sdp("""
m=audio 51372 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
""", version=2890844527)
second = answer(second_offer, caps_2_2, address="host.biloxi.example.com", port=49172,
                previous=first.answer)
side_by_side("Alice's second offer", second_offer, "Bob's second answer", second)

# %% [markdown]
# **§2.4: a stream for DTMF only.** Alice offers two audio streams: voice (PCMU or iLBC)
# and a `sendonly` stream carrying only telephone-event. Bob takes iLBC on the first
# and receives the second, `recvonly`:

# %%
offer_2_4 = alice_sdp("""
m=audio 49170 RTP/AVP 0 97
a=rtpmap:0 PCMU/8000
a=rtpmap:97 iLBC/8000
m=audio 49172 RTP/AVP 98
a=rtpmap:98 telephone-event/8000
a=sendonly
""")
result_2_4 = as_bob(offer_2_4, Capabilities(audio=("iLBC/8000",)), port=[49172, 49174])
display(side_by_side("Alice's offer", offer_2_4, "Bob's answer", result_2_4.answer))
print(result_2_4.explain())

# %% [markdown]
# **§3.1: hold and resume, by the answerer.** Bob answers Alice's offer already on
# hold (`sendonly`: he plays music, Alice only receives). Later he resumes with a new
# offer of his own (`update_offer(..., hold=False)`: same session id, version + 1) and
# Alice answers it, her own version + 1 because her description changed:

# %%
offer_3_1 = alice_sdp("""
m=audio 49170 RTP/AVP 0 97
a=rtpmap:0 PCMU/8000
a=rtpmap:97 iLBC/8000
""")
bob_held = as_bob(offer_3_1, Capabilities(audio=("iLBC/8000",), telephone_event=False),
                  port=49172, direction="sendonly").answer
bob_resumes = update_offer(bob_held, hold=False)
alice_answers = answer(bob_resumes, Capabilities(audio=("PCMU", "iLBC/8000"), telephone_event=False),
                       address="host.atlanta.example.com", port=49178, previous=parse(offer_3_1))
display(side_by_side("Bob answers on hold", bob_held, "Bob's new offer: resume", bob_resumes))
side_by_side("Bob's new offer", bob_resumes, "Alice's answer", alice_answers)

# %% [markdown]
# **§4.3: a stream removed in a later offer.** A stream is never deleted from the
# description, only disabled with port 0 and kept in its place, so the `m=` lines of an
# offer and its answer keep matching one by one:

# %%
offer_4_3 = alice_sdp("""
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
""")
caps_4_3 = Capabilities(audio=("iLBC/8000",), video=("H261/90000",))
bob_4_3 = as_bob(offer_4_3, caps_4_3, port=[49174, 49170]).answer
without_video = update_offer(bob_4_3, disable=[1])
side_by_side("Bob's answer", bob_4_3, "Bob's next offer: no video", without_video)

# %% [markdown]
# ## 8. See it in Wireshark
#
# Two captures: the refused call (what the trace holds now), and a hold and resume made
# again for a capture of its own.

# %%
CAPTURES = Path("captures")
CAPTURES.mkdir(exist_ok=True)
refused_pcap = trace.to_pcap(CAPTURES / "04_no_common_codec.pcap")

trace.clear()
call = await alice.call("bob")
incoming = await bob.next_invitation(timeout=5)
await incoming.accept()
await call.established(timeout=5)
await call.hold(timeout=5)
await call.unhold(timeout=5)
await call.bye(timeout=5)
hold_pcap = trace.to_pcap(CAPTURES / "04_hold_and_resume.pcap")
print("wrote", refused_pcap.resolve(), hold_pcap.resolve(), sep="\n")

# %% [markdown]
# In Wireshark, filter `sdp` and unfold *Message Body → Session Description Protocol*:
# every line is decoded (`sdp.media`, `sdp.media_attr`, `sdp.owner.version`...).
# *Telephony → VoIP Calls → Flow Sequence* writes the codecs of each offer and answer
# on the arrows. With tshark, the offers and answers of the hold capture:

# %%
fields = ["frame.number", "sip.Method", "sip.Status-Code", "sip.CSeq", "sdp.owner.version",
          "sdp.media", "sdp.media_attr"]
command = ["tshark", "-r", str(hold_pcap), "-d", f"udp.port=={lab.udp.port},sip", "-Y", "sdp",
           "-T", "fields", "-E", "header=y", "-E", "aggregator=/s",
           *[arg for field in fields for arg in ("-e", field)]]
print("$", " ".join(command))
if shutil.which("tshark"):
    output = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    header, *rows = output.splitlines()
    print(header.replace("sdp.media_attr", "direction"))
    for line in rows:  # of the media attributes, only the direction
        cells = line.split("\t")
        cells[-1] = " ".join(a for a in cells[-1].split(" ")
                             if a in ("sendrecv", "sendonly", "recvonly", "inactive"))
        print("\t".join(cells))
else:
    print("(tshark is not installed here: apt install tshark, or open the file in Wireshark)")

# %%
await lab.stop()

# %% [markdown]
# ## Recap
#
# - SDP says where (`c=`, the `m=` port), with what (the payload types of `m=`, their
#   `a=rtpmap`/`a=fmtp`) and which way (`sendrecv`, `sendonly`, `recvonly`,
#   `inactive`) media flows; `o=` carries a session id and a version.
# - Offer/answer (RFC 3264): one answer `m=` line per offered one (port 0 to reject);
#   the answerer keeps what it can take, in its own order, and the first codec of the
#   answer is the one used; dynamic payload types keep the offerer's number.
# - Static payload types (0 PCMU, 8 PCMA, 9 G722) need no `a=rtpmap`; dynamic ones
#   (96-127) do. telephone-event (RFC 4733) carries DTMF and goes with the codec of the
#   same clock rate.
# - A re-INVITE brings a new offer in the same session (same id, version + 1). Hold is
#   `sendonly`, answered `recvonly`; directions always mirror.
# - No acceptable stream: `488 Not Acceptable Here`, with a Warning; siplab's
#   `NegotiationError` and `negotiation.explain()` say why.
#
# ## What's next
#
# `05_rtp_audio`: the media itself. Now that the phones agree on PCMU at 8000 Hz, 20 ms
# per packet, look at the RTP packets they send: the header field by field, G.711, jitter
# and loss, DTMF events, and what each side heard.
