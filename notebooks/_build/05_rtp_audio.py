"""Source of notebooks/05_rtp_audio.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; `%matplotlib inline` and top-level `await` are IPython's (this
# file is a notebook's source, not a module to import).
# ruff: noqa: B015, B018, E402, F704, I002, PLE1142, RUF001, RUF003

# %% [markdown]
# # 05 · RTP audio: packets, G.711, jitter, loss and DTMF
#
# **Goals.** By the end of this notebook you can
#
# - read an RTP header field by field, and build and parse a packet;
# - say why a phone sends one packet every 20 ms with 160 samples in it, and predict
#   the sequence numbers and timestamps of a stream, wrap-around included;
# - explain what G.711 (μ-law, A-law) does to a sample, and measure its
#   signal-to-noise ratio;
# - listen to both sides of a real call, and plot what each side received;
# - measure loss and interarrival jitter (RFC 3550) the way Wireshark does, and
#   compute the jitter yourself;
# - recognise DTMF key presses sent as RFC 4733 telephone-events.
#
# **Prerequisites.** `00_start_here` (the lab, phones, traces). `03_invite_ladder` and
# `04_sdp_codec_negotiation` help: the call below is set up by INVITE, and SDP picks
# its codec. A little numpy (arrays, slicing).
#
# **Time to learn.** About 60 minutes. Running the whole notebook takes about ten
# seconds and needs no network.

# %% [markdown]
# ## Where RTP fits
#
# SIP sets a call up and SDP says where the audio goes and in which format; then the
# sound itself flows in **RTP** packets ([RFC 3550](https://www.rfc-editor.org/rfc/rfc3550)),
# straight from phone to phone over UDP, without the SIP server. Each packet carries a
# few milliseconds of encoded audio behind a 12-octet header. Its companion, **RTCP**,
# sends a report every few seconds: how many packets arrived, how many were lost, how
# regular they were.
#
# Nothing in RTP retransmits: a lost packet is a small gap in the sound. A late packet
# is as bad as a lost one, because the sound must play on time. So the two numbers
# everyone watches are **loss** and **jitter** (how irregularly the packets arrive).

# %%
%matplotlib inline
import asyncio
import random
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from IPython.display import Audio, display
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import siplab.lab
from siplab.aio.audio import ToneSource, WavSource, read_wav
from siplab.aio.transport import TraceRecord
from siplab.ids import IdSource
from siplab.lab import Trace
from siplab.lab.analysis import format_streams
from siplab.lab.pcapfile import udp_frame, write_pcap
from siplab.rtp import (
    DtmfReceiver,
    ReceiverStats,
    RtpPacket,
    RtpSender,
    TelephoneEvent,
    WiresharkStats,
)
from siplab.rtp import g711
from siplab.sip.transport import Peer

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "README.md").exists())
DATA = ROOT / "data"
CAPTURES = Path("captures")
CAPTURES.mkdir(exist_ok=True)

# %% [markdown]
# ## 1. The RTP header, field by field (RFC 3550 §5.1)
#
# ```
#  0                   1                   2                   3
#  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# |V=2|P|X|  CC   |M|     PT      |       sequence number         |
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# |                           timestamp                           |
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# |           synchronization source (SSRC) identifier            |
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ```
#
# - **V** (2 bits): the version, always 2.
# - **P**, **X** (1 bit each): padding at the end, a header extension after the header.
#   Plain phones use neither; WebRTC puts extensions there (audio level, MID).
# - **CC** (4 bits): how many *contributing sources* follow, for a mixer. Usually 0.
# - **M** (1 bit), the marker: for audio, "first packet of a talkspurt" (the sound
#   starts again after silence, so a gap before it is normal).
# - **PT** (7 bits), the payload type: which codec. 0 is PCMU, 8 PCMA; 96–127 are
#   *dynamic*, bound to a codec by the SDP's `a=rtpmap` line (notebook 04).
# - **sequence number** (16 bits): +1 per packet. The receiver uses it to find loss
#   and reordering.
# - **timestamp** (32 bits): when the first sample of this packet was taken, counted
#   in the codec's clock (8000 per second for G.711). The receiver uses it to play
#   each packet at the right moment.
# - **SSRC** (32 bits): a random number that names this stream.
#
# Let's build one. `RtpPacket` is a frozen dataclass with one field per header field;
# `to_bytes()` writes the wire form:

# %%
packet = RtpPacket(payload_type=0, sequence_number=4711, timestamp=160_000,
                   ssrc=0x5EED1234, marker=True, payload=bytes(160))
data = packet.to_bytes()
print(len(data), "octets:", len(data) - len(packet.payload), "of header +",
      len(packet.payload), "of audio")
print("header:", data[:12].hex(" "))

# %% [markdown]
# Now read the fields back by hand, with shifts and masks, the way a receiver does:

# %%
first, second = data[0], data[1]
fields = {
    "V (version)": first >> 6,
    "P (padding)": (first >> 5) & 1,
    "X (extension)": (first >> 4) & 1,
    "CC (CSRC count)": first & 0x0F,
    "M (marker)": second >> 7,
    "PT (payload type)": second & 0x7F,
    "sequence number": int.from_bytes(data[2:4], "big"),
    "timestamp": int.from_bytes(data[4:8], "big"),
    "SSRC": hex(int.from_bytes(data[8:12], "big")),
}
for name, value in fields.items():
    print(f"{name:>18}: {value}")

# %% [markdown]
# `RtpPacket.parse` does the same (and checks that the lengths add up), so parsing the
# bytes gives back an equal packet:

# %%
RtpPacket.parse(data) == packet

# %% [markdown]
# The same twelve octets as a picture, one colour per field:

# %%
def draw_header(data: bytes) -> Figure:
    """The first 12 octets of an RTP packet, 32 bits per row: field names above the bits."""
    bits = "".join(f"{octet:08b}" for octet in data[:12])
    layout = [("V", 0, 2), ("P", 2, 1), ("X", 3, 1), ("CC", 4, 4), ("M", 8, 1),
              ("PT", 9, 7), ("sequence number", 16, 16), ("timestamp", 32, 32),
              ("SSRC", 64, 32)]
    colours = ["#8ecae6", "#ffb703", "#fb8500", "#a8dadc", "#e63946", "#90be6d",
               "#f4a261", "#cdb4db", "#bde0fe"]
    figure = Figure(figsize=(10, 2.6), layout="constrained")
    axes = figure.add_subplot()
    for (name, start, length), colour in zip(layout, colours, strict=True):
        row, column = divmod(start, 32)
        top = -2.2 * row
        value = int(bits[start:start + length], 2)
        axes.add_patch(Rectangle((column, top - 1), length, 1, facecolor=colour,
                                 edgecolor="white", lw=2))
        shown = f"{value:#010x}" if name == "SSRC" else str(value)
        axes.text(column + length / 2, top - 0.5, f"{name}={shown}" if length > 1 else name,
                  ha="center", va="center", fontsize=7 if length > 1 else 6)
        for bit in range(start, start + length):
            axes.add_patch(Rectangle((column + bit - start, top - 2), 1, 1, facecolor=colour,
                                     alpha=0.45, edgecolor="white"))
            axes.text(column + bit - start + 0.5, top - 1.5, bits[bit], ha="center",
                      va="center", fontsize=7)
    axes.set_xlim(0, 32)
    axes.set_ylim(-6.5, 0.1)
    axes.axis("off")
    axes.set_title("RTP fixed header (RFC 3550 §5.1), the packet built above", fontsize=9)
    return figure


draw_header(data)

# %% [markdown]
# ## 2. Packetization: 20 ms, 160 samples
#
# A phone samples the voice 8000 times a second. Sending each sample in its own
# packet would waste almost everything on headers (40 octets of IP, UDP and RTP for
# one octet of sound); sending a whole second at once would make the call lag by a
# second. The usual compromise (RFC 3551 §4.2) is **20 ms per packet**:
#
# - 20 ms at 8000 samples/s = **160 samples**; G.711 encodes each in one octet, so
#   160 octets of payload, **50 packets per second**, 64 kbit/s of audio;
# - with 12 (RTP) + 8 (UDP) + 20 (IPv4) octets of headers, 80 kbit/s on the wire.
#
# The sequence number goes up by **1** per packet, the timestamp by **160** (the
# number of samples). Both start at random values (RFC 3550 §5.1), and both wrap
# around: the sequence number after 65535, the timestamp after 2³² − 1.
#
# `RtpSender` is the sending side of a stream: give it each packet's payload and
# how many samples it holds. Here is a one-second 440 Hz tone cut into packets:

# %%
tone = g711.tone(440, 1.0, amplitude=0.5)  # 8000 int16 samples
sender = RtpSender(0, 8000, ids=IdSource(5))  # payload type 0 = PCMU
packets = [sender.next_packet(g711.encode("PCMU", frame), samples=len(frame))
           for frame in np.split(tone, len(tone) // 160)]

print(f"{len(packets)} packets; SSRC {packets[0].ssrc:#010x}")
print(" seq     timestamp  marker  payload octets")
for p in packets[:5]:
    print(f"{p.sequence_number:5d}  {p.timestamp:12d}  {p.marker!s:6}  {len(p.payload)}")

# %% [markdown]
# The first packet has the marker bit set (a talkspurt starts). The timestamps count
# samples, not milliseconds: to get seconds, divide by the clock rate:

# %%
elapsed = (packets[-1].timestamp - packets[0].timestamp) / 8000
print(f"last packet's first sample: {elapsed * 1000:.0f} ms after the first packet's")

# %% [markdown]
# ### Exercise 1: wrap-around
#
# A PCMU stream (20 ms packets) sends a packet with sequence number **65534** and
# timestamp **4294967000**. What are the sequence number and the timestamp of the
# packet sent **60 ms later**? Remember that both fields have a fixed number of bits.
# Put them in `answer_seq` and `answer_timestamp`.

# %% tags=["exercise"] id="exercise-wraparound"
answer_seq = None  # the sequence number 60 ms later
answer_timestamp = None  # its timestamp

# %% [markdown]
# The check builds the stream with `RtpSender` and compares.

# %% tags=["check", "raises-exception"] id="check-wraparound"
assert answer_seq is not None and answer_timestamp is not None, "fill in both answers"
check_sender = RtpSender(0, 8000, ids=IdSource(1), sequence_number=65534,
                         timestamp=4294967000)
check_packets = [check_sender.next_packet(bytes(160), samples=160) for _ in range(4)]
later = check_packets[3]  # 0, 20, 40, 60 ms
assert answer_seq == later.sequence_number, (
    f"not {answer_seq}: three packets later, and 16 bits hold 0..65535")
assert answer_timestamp == later.timestamp, (
    f"not {answer_timestamp}: 60 ms is 480 samples, and 32 bits hold 0..4294967295")
print(f"Correct: sequence number {later.sequence_number}, timestamp {later.timestamp}.")

# %% [markdown]
# ## 3. G.711: eight bits per sample
#
# A sound card gives 16-bit samples; G.711 (ITU-T, 1972), the codec of the telephone
# network, sends **8 bits** per sample. It does not just drop the low 8 bits: that
# would make quiet sounds (most of speech) disappear into noise. It spends its 256
# codes *logarithmically*: small samples get fine steps, loud ones coarse steps
# ("companding"). Two variants exist, **μ-law** (PCMU, payload type 0; North America
# and Japan) and **A-law** (PCMA, payload type 8; everywhere else).
#
# Encode every possible 16-bit sample and decode it again: the curve is a staircase
# whose steps grow with the level.

# %%
everything = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
decoded = {codec: g711.decode(codec, g711.encode(codec, everything))
           for codec in ("PCMU", "PCMA")}

figure = Figure(figsize=(10, 3.4), layout="constrained")
left, right = figure.subplots(1, 2)
for codec, out in decoded.items():
    left.plot(everything[::64], out[::64], lw=1, label=codec)
    levels_out = np.unique(out[out > 0])  # the positive values G.711 can decode to
    right.loglog(levels_out[1:], np.diff(levels_out), drawstyle="steps-post", label=codec)
left.set(xlabel="input sample", ylabel="decoded sample", title="encode, then decode")
right.set(xlabel="sample level", ylabel="step to the next code",
          title="the step doubles from one segment to the next")
left.legend()
right.legend()
figure

# %% [markdown]
# The quality measure is the **signal-to-noise ratio**: the power of the signal over
# the power of the error, in decibels, `10 log10(Σ x² / Σ (x − y)²)`.
# `g711.snr_db(sent, received)` computes it (after lining the two signals up). Compare
# G.711 with the naive "keep the top 8 bits" over a range of loudness:

# %%
def top_8_bits(samples: np.ndarray) -> np.ndarray:
    """What 8-bit *linear* coding keeps: the high octet of each 16-bit sample."""
    return (samples.astype(np.int16) >> 8 << 8).astype(np.int16)


levels = np.geomspace(0.003, 0.9, 25)  # fraction of full scale
curves: dict[str, list[float]] = {"PCMU": [], "PCMA": [], "8-bit linear": []}
for level in levels:
    x = g711.tone(441, 0.5, amplitude=float(level))
    curves["PCMU"].append(g711.snr_db(x, g711.decode("PCMU", g711.encode("PCMU", x)), lag=0))
    curves["PCMA"].append(g711.snr_db(x, g711.decode("PCMA", g711.encode("PCMA", x)), lag=0))
    curves["8-bit linear"].append(g711.snr_db(x, top_8_bits(x), lag=0))

figure = Figure(figsize=(7, 3.4), layout="constrained")
axes = figure.add_subplot()
for name, values in curves.items():
    axes.semilogx(levels, values, marker=".", label=name)
axes.set(xlabel="tone amplitude (fraction of full scale)", ylabel="SNR (dB)",
         title="G.711 keeps the SNR nearly flat; linear 8-bit does not")
axes.grid(True, which="both", alpha=0.3)
axes.legend()
figure

# %% [markdown]
# G.711 holds about 35–38 dB over a wide range of levels; linear 8-bit coding is good
# for loud sounds and terrible for quiet ones. That flat curve is the whole point of
# companding: a whisper and a shout come out equally clean.
#
# ### Exercise 2: a quiet talker
#
# A quiet voice reaches the codec at 1 % of full scale. Make a one-second 441 Hz tone
# with `g711.tone(441, 1.0, amplitude=0.01)`, send it through **PCMU** (encode, then
# decode) and measure the SNR with `g711.snr_db(sent, received, lag=0)`. Put the
# number (in dB) in `snr_quiet_pcmu`.

# %% tags=["exercise"] id="exercise-quiet-snr"
snr_quiet_pcmu = None  # g711.snr_db(...)

# %% tags=["check", "raises-exception"] id="check-quiet-snr"
assert snr_quiet_pcmu is not None, "replace None with the SNR you measured (a number of dB)"
quiet = g711.tone(441, 1.0, amplitude=0.01)
expected_snr = g711.snr_db(quiet, g711.decode("PCMU", g711.encode("PCMU", quiet)), lag=0)
assert abs(snr_quiet_pcmu - expected_snr) < 0.1, (
    f"{snr_quiet_pcmu:.1f} dB is not what PCMU gives this tone; encode with 'PCMU'")
linear = g711.snr_db(quiet, top_8_bits(quiet), lag=0)
print(f"Correct: {expected_snr:.1f} dB with PCMU, against {linear:.1f} dB for 8-bit linear.")

# %% [markdown]
# ## 4. A real call: listen to both sides
#
# Now the real thing. A lab with two phones; Alice plays a four-note melody
# (`data/audio/melody.wav`), Bob a 660 Hz tone. The SDP offer/answer of notebook 04
# picks the codec, then each phone's RTP endpoint sends a packet every 20 ms and
# records what it hears (`session.heard`, a `Recorder`).
#
# A `Trace` records the SIP messages. The RTP packets do not pass through the trace by
# themselves, so `record_rtp` below hooks each phone's RTP endpoint (`on_packet` is
# called with every packet it receives) and notes each arrival, in the trace (for the
# pcap) and in a list (for the plots).

# %%
lab = await siplab.lab.start(seed=5)
trace = Trace(rtp=True).attach(lab.server)
alice = await lab.user_agent("alice", trace=trace)
bob = await lab.user_agent("bob", trace=trace)


def record_rtp(session, trace: Trace) -> list[tuple[float, RtpPacket]]:
    """Note every RTP packet ``session``'s endpoint receives: (arrival time, packet)."""
    endpoint = session.media
    local = Peer(endpoint.host, endpoint.local_port, "udp")
    arrivals: list[tuple[float, RtpPacket]] = []

    def on_packet(packet: RtpPacket, now: float) -> None:
        arrivals.append((now, packet))
        remote = Peer(*endpoint.remote_address, "udp")
        trace(TraceRecord(time.time(), "in", "rtp", local, remote, packet.to_bytes()))

    endpoint.on_packet = on_packet
    return arrivals


melody, melody_rate = read_wav(DATA / "audio" / "melody.wav")
call = await alice.call("bob", source=WavSource(DATA / "audio" / "melody.wav"))
alice_received = record_rtp(call, trace)
invitation = await bob.next_invitation(timeout=5)
await invitation.progress()
await invitation.accept(source=ToneSource(660, 0.3))
bob_received = record_rtp(invitation, trace)
await call.established(timeout=5)
print("codec:", call.codec)
print(call.negotiation.explain())

# %% [markdown]
# The call is up. Let the melody play (2 s) and look at what each RTP endpoint
# counted (`media.stats()`): about 50 packets per second each way, nothing lost on the
# loopback interface, and a jitter of a fraction of a millisecond.

# %%
await asyncio.sleep(2.2)
print("Alice's RTP:", call.media.stats().summary())
print("Bob's RTP:  ", invitation.media.stats().summary())

# %% [markdown]
# Then Alice presses four keys (section 6 is about those) and hangs up:

# %%
await call.send_dtmf("159#", timeout=5)
await asyncio.sleep(0.3)
print("Alice's RTP:", call.media.stats().summary())
print("Bob's RTP:  ", invitation.media.stats().summary())
print("the call ended:", await call.bye(timeout=5))

# %% [markdown]
# Alice sent fewer packets than Bob: while a key is down, telephone-events replace her
# audio. And Bob's jitter jumped: every packet of one key press carries the *same*
# timestamp for 100 ms or more (section 6), so to the jitter formula of section 5 they
# look badly late. Wireshark skips telephone-events when it computes jitter; RFC 3550's
# counter, which `stats()` shows, takes them as they come.
#
# Here is the ladder, with the two RTP streams as bands between the phones:

# %%
names = {f"{lab.udp.host}:{lab.udp.port}": "server"}
siplab.lab.ladder(trace, names=names, title="a call with audio")

# %% [markdown]
# And what each side **heard**. Press play: Bob hears Alice's melody, Alice hears
# Bob's tone. Both went through PCMU on the way.

# %%
print("Bob heard:", invitation.heard)
display(Audio(invitation.heard.samples, rate=invitation.heard.rate))
print("Alice heard:", call.heard)
display(Audio(call.heard.samples, rate=call.heard.rate))

# %% [markdown]
# The spectrogram of what Bob received shows the four notes, one after the other. It
# is decoded from the packets themselves (`plot_spectrogram` takes the list of
# `(arrival, packet)` pairs), so a lost packet would be a gap. The key presses at the
# end travel in the same stream with another payload type and are not sound (section
# 6): the decoder leaves them out.

# %%
figure = Figure(figsize=(10, 5), layout="constrained")
top, bottom = figure.subplots(2, 1)
siplab.lab.plot_waveform(bob_received, ax=top)
with np.errstate(divide="ignore"):  # log10 of the silent parts is -inf: drawn white
    siplab.lab.plot_spectrogram(bob_received, ax=bottom)
top.set_title("what Bob received: the melody, decoded from its RTP packets", fontsize=9)
figure

# %% [markdown]
# How faithful was it, end to end? Compare what Alice played with what Bob's recorder
# kept. `g711.align` finds where the melody starts in the recording (the lag), and
# `snr_db` compares from there:

# %%
heard = invitation.heard.samples
lag = g711.align(melody, heard)
print(f"Bob's recording lags the file by {lag} samples ({lag / 8000 * 1000:.0f} ms)")
print(f"SNR of the melody through the whole call: {g711.snr_db(melody, heard, lag=lag):.1f} dB")

# %% [markdown]
# About what PCMU alone gives (section 3): on the loopback interface nothing else
# damages the sound. On a real network, loss and jitter do.
#
# ## 5. Jitter and loss
#
# Packets leave every 20 ms but do not arrive every 20 ms: queues in routers and
# Wi-Fi retries delay some more than others. RFC 3550 (§6.4.1, appendix A.8) defines
# the **interarrival jitter**: for each packet, its *transit* is its arrival time minus
# its timestamp (both in timestamp units); `D` is how much the transit changed since
# the previous packet; and the jitter is a running average of `|D|`:
#
# ```
# transit = arrival × clock_rate − timestamp
# D       = transit − previous transit
# J       = J + (|D| − J) / 16
# ```
#
# The clocks of sender and receiver never agree, but that offset cancels out in `D`.
# **Loss** comes from the sequence numbers: expected = highest − first + 1, lost =
# expected − received.
#
# The loopback interface is too good to show any of that, so let's make a bad network
# ourselves: take the 50 packets per second of section 2 (5 seconds of them), drop 5 %
# at random, and delay each of the others by 10 ms plus a random 0–40 ms. A packet
# delayed 30 ms more than the next one arrives *after* it: reordering.

# %%
tone_5s = g711.tone(440, 5.0, amplitude=0.3)
sender = RtpSender(0, 8000, ids=IdSource(6))
sent = [(k * 0.020, sender.next_packet(g711.encode("PCMU", frame), samples=160))
        for k, frame in enumerate(np.split(tone_5s, len(tone_5s) // 160))]

network = random.Random(2024)
# (arrival time, packet) in arrival order; 5 % never arrive
arrivals = sorted((t + 0.010 + network.uniform(0, 0.040), p) for t, p in sent
                  if network.random() >= 0.05)

rfc = ReceiverStats(clock_rate=8000)
wireshark = WiresharkStats()
for arrival, p in arrivals:
    rfc.receive(p, arrival)
    wireshark.receive(p, arrival)
print(f"sent {len(sent)}, received {rfc.received}")
print(f"RFC 3550:  expected {rfc.expected}, lost {rfc.lost}, reordered {rfc.reordered}, "
      f"jitter {rfc.jitter_ms:.2f} ms")
print(f"Wireshark: lost {wireshark.lost}, max delta {wireshark.max_delta:.1f} ms, "
      f"max jitter {wireshark.max_jitter:.2f} ms, mean jitter {wireshark.mean_jitter:.2f} ms")

# %% [markdown]
# `siplab.lab` plots a stream from a capture, a trace, or a list of
# `(arrival, packet)` pairs. The sequence numbers against arrival time show the lost
# packets (crosses) and the late ones (triangles); the jitter climbs to its steady
# value; the histogram of the gaps between arrivals, which would be a single bar at
# 20 ms on a perfect network, spreads out:

# %%
figure = Figure(figsize=(10, 8), layout="constrained")
panels = figure.subplots(3, 1)
siplab.lab.plot_sequence(arrivals, ax=panels[0])
siplab.lab.plot_jitter(arrivals, ax=panels[1])
siplab.lab.plot_deltas(arrivals, ax=panels[2])
figure

# %% [markdown]
# Compare with the call of section 4, where Alice's audio packets crossed only the
# loopback interface (note the scale; we leave out her key presses, whose timestamps
# stand still on purpose, section 6):

# %%
bob_audio = [(t, p) for t, p in bob_received if p.payload_type == 0]
siplab.lab.plot_jitter(bob_audio)

# %% [markdown]
# ### Exercise 3: compute the jitter yourself
#
# Write `interarrival_jitter(arrivals, clock_rate)`: given the `(arrival time in
# seconds, packet)` pairs in arrival order, return the RFC 3550 jitter **in timestamp
# units** after the last packet, with the three lines of the formula above (start
# with `J = 0`; the first packet only sets the transit). The check compares your
# function with siplab's `ReceiverStats` on the bad network's packets.

# %% tags=["exercise"] id="exercise-jitter"
def interarrival_jitter(arrivals: list[tuple[float, RtpPacket]], clock_rate: int = 8000) -> float:
    """RFC 3550 A.8 interarrival jitter after the last packet, in timestamp units."""
    jitter = 0.0
    # for arrival, packet in arrivals: ...
    return None

# %% tags=["check", "raises-exception"] id="check-jitter"
yours = interarrival_jitter(arrivals, 8000)
assert yours is not None, "interarrival_jitter returns None: compute J and return it"
reference = ReceiverStats(clock_rate=8000)
for arrival, p in arrivals:
    reference.receive(p, arrival)
assert abs(yours - reference.jitter) < 1e-6, (
    f"{yours:.3f} is not {reference.jitter:.3f} timestamp units: check D (transit "
    "difference) and the /16")
print(f"Correct: J = {yours:.2f} timestamp units = {yours / 8:.3f} ms.")

# %% [markdown]
# ## 6. DTMF: pressing keys (RFC 4733)
#
# Voicemail menus and bank lines want key presses. A keypad *sounds* like two sines
# at once (one low, one high: Q.23 "dual-tone multi-frequency"); `data/audio/
# dtmf_inband_159.wav` is keys 1, 5, 9, # as sound. Squeezed through a low-bitrate
# codec such tones come out distorted, so RFC 4733 sends the **key** instead, as a
# *telephone-event*: its own payload type (negotiated in the SDP as
# `telephone-event/8000`, usually 101), in the same stream as the audio.

# %%
keypad, keypad_rate = read_wav(DATA / "audio" / "dtmf_inband_159.wav")
figure = Figure(figsize=(8, 2.8), layout="constrained")
axes = figure.add_subplot()
with np.errstate(divide="ignore"):  # the silences between keys: log10(0)
    axes.specgram(keypad.astype(float), NFFT=256, Fs=keypad_rate, noverlap=192, cmap="magma")
axes.set(xlabel="time (s)", ylabel="frequency (Hz)", ylim=(500, 1600),
         title="in-band DTMF: 1, 5, 9, # are two tones each")
display(Audio(keypad, rate=keypad_rate))
figure

# %% [markdown]
# In section 4 Alice pressed the same keys with `call.send_dtmf("159#")`, the RFC 4733
# way. Bob's phone decoded them:

# %%
print("Bob received the keys:", invitation.dtmf_received)

# %% [markdown]
# Here are the packets that carried them. Each key is one *event*: every packet of it
# has the **same timestamp** (when the key went down), the first has the marker bit,
# the **duration** grows while the key is held, and the **end** packet (E bit) is sent
# three times so that losing one does no harm. The payload is four octets: event
# (0–9, then * = 10, # = 11), E bit, volume, duration.

# %%
events = [(t, p) for t, p in bob_received if p.payload_type == 101]
print(" seq   timestamp  M  event  E  duration  payload")
for _, p in events[:8]:
    e = TelephoneEvent.parse(p.payload)
    print(f"{p.sequence_number:5d} {p.timestamp:11d}  {int(p.marker)}  {e.digit:>5}  "
          f"{int(e.end)}  {e.duration:8d}  {p.payload.hex(' ')}")
print(f"... {len(events)} telephone-event packets in all")

receiver = DtmfReceiver(payload_type=101)
for arrival, p in bob_received:
    receiver.receive(p, arrival)
print("decoded again from the packets:", receiver.digits)

# %% [markdown]
# ## 7. See it in Wireshark
#
# The trace holds the SIP messages and every RTP packet the phones received. Write it
# as a pcap; the bad-network stream of section 5 too (it has no SIP, just UDP packets):

# %%
call_pcap = trace.to_pcap(CAPTURES / "05_rtp_audio.pcap")
start = time.time()
bad_pcap = CAPTURES / "05_jitter_loss.pcap"
write_pcap(bad_pcap, [(start + t, udp_frame(p.to_bytes(), ("127.0.0.1", 40000),
                                            ("127.0.0.1", 50000))) for t, p in arrivals])
print("wrote", call_pcap.resolve(), "and", bad_pcap.resolve())
print(format_streams(siplab.lab.rtp_streams(call_pcap)))

# %% [markdown]
# **In Wireshark:** open `05_rtp_audio.pcap`, then *Telephony → RTP → RTP Streams*:
# the same two streams, with the same numbers siplab printed (siplab counts the way
# Wireshark does). Select one and press *Analyze* for the per-packet jitter, or *Play
# Streams* to hear it. *Telephony → VoIP Calls → Flow Sequence* draws the ladder with
# the RTP. Wireshark knows these UDP packets are RTP because it read the SDP.
# `05_jitter_loss.pcap` has no SDP, so tell it: *Analyze → Enabled Protocols →
# rtp_udp* (the RTP heuristic), or on the command line `-o rtp.heuristic_rtp:TRUE`:

# %%
commands = [
    ["tshark", "-r", str(call_pcap), "-q", "-z", "rtp,streams",
     "-d", f"udp.port=={lab.udp.port},sip"],
    ["tshark", "-r", str(bad_pcap), "-q", "-z", "rtp,streams", "-o", "rtp.heuristic_rtp:TRUE"],
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
# ## Recap
#
# - RTP carries the audio, one UDP packet per 20 ms, behind a 12-octet header:
#   version, marker, **payload type** (the codec), **sequence number** (+1 per packet,
#   for loss and order), **timestamp** (+160 per 20 ms of G.711, for playout) and
#   **SSRC** (the stream's name). Both counters wrap around.
# - G.711 sends 8 bits per sample, logarithmically spaced, so quiet and loud sounds
#   keep about the same SNR (35–38 dB); PCMU and PCMA differ in details.
# - Loss counts missing sequence numbers; the interarrival jitter is a running mean
#   of how much each packet's transit time changed, `J += (|D| − J) / 16`.
#   `siplab.rtp.ReceiverStats` counts as RFC 3550 says, `WiresharkStats` as Wireshark
#   does, and `siplab.lab.plot_sequence`, `plot_jitter`, `plot_deltas`,
#   `plot_waveform` and `plot_spectrogram` draw a stream.
# - DTMF travels as RFC 4733 telephone-events: one timestamp per key, a growing
#   duration, three end packets.
# - A phone's `heard` is what it played out: listen with `IPython.display.Audio`.
#
# ## What's next
#
# `06_webrtc_and_the_browser`: the browser's way to carry the same audio (ICE, DTLS,
# SRTP) and SIP over WebSocket, with the lab's browser phone calling this notebook.
# `07_pcap_replay_exercises` reads captures of broken calls, one of them with 5 % loss,
# and asks you what went wrong.
