"""Source of notebooks/00_start_here.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; `%matplotlib inline` and top-level `await` are IPython's (this
# file is a notebook's source, not a module to import).
# ruff: noqa: B015, B018, F704, I002, PLE1142, RUF003

# %% [markdown]
# # 00 · Start here: a SIP lab inside your notebook
#
# **Goals.** By the end of this notebook you can
#
# - say what siplab is, and why its SIP code never opens a socket or reads a clock;
# - start the lab: a SIP server (a *registrar* and *proxy*) and phones, all inside
#   this notebook;
# - make two phones say hello with a SIP `MESSAGE`, and read the *ladder* of what
#   went over the wire;
# - open the capture this notebook writes in Wireshark (or read it with tshark);
# - find your way around the repository and the course.
#
# **Prerequisites.** Python basics (functions, f-strings). No SIP knowledge. You
# will type `await` in front of a few calls: a notebook lets you do that at the top
# level of a cell.
#
# **Time to learn.** About 20 minutes. Running the whole notebook takes a few seconds
# and needs no network: everything listens on 127.0.0.1, your own machine.

# %% [markdown]
# ## What siplab is
#
# SIP (the Session Initiation Protocol, [RFC 3261](https://www.rfc-editor.org/rfc/rfc3261))
# is how phones, softphones and browsers set up calls: text messages that look a lot
# like HTTP, sent over UDP, TCP or WebSocket. The call's sound itself travels
# separately, as RTP packets, in a format the two phones agree on with SDP. siplab is
# a complete SIP stack written to be read, plus the instruments to watch it work:
# ladders, state diagrams, captures for Wireshark.
#
# Its one idea: **the protocol code does no I/O and never reads a clock**. Every
# protocol object is fed bytes together with the current time, `now`, and answers
# with what it wants to send and when it next needs to be woken up:
#
# ```python
# endpoint.receive_datagram(data, peer, now)   # bytes that arrived from peer
# endpoint.datagrams_to_send()                 # what to send: [(bytes, peer), ...]
# endpoint.next_event()                        # what happened: a request, a response, a timeout
# endpoint.get_timer()                         # when to call handle_timer next
# endpoint.handle_timer(now)                   # it is now `now`: fire what is due
# ```
#
# Because time is just an argument, the same code runs on real sockets (`siplab.aio`,
# what this notebook uses) and inside `SimNetwork`, an in-memory network whose clock
# only moves when you say so (later notebooks use it to lose packets on purpose and
# to run 32 seconds of retransmissions in a millisecond).

# %%
%matplotlib inline
import shutil
import subprocess
from pathlib import Path

import siplab
import siplab.lab
from siplab.lab import Trace, text_ladder

print("siplab", siplab.__version__)

# %% [markdown]
# ## 1. Start the lab
#
# A SIP phone does not call another phone's IP address directly. It *registers* with
# a server ("alice is at 127.0.0.1:40312 for the next 10 minutes"), and sends its
# requests to that server, which finds the right phone and forwards them. The server
# plays two roles of RFC 3261: **registrar** (it keeps the bindings, §10) and
# **proxy** (it forwards requests to where the bindings say, §16). In a company that
# server is Kamailio or Asterisk; here it is siplab's `LabServer`.
#
# `siplab.lab.start()` starts one, on ports the system picks, with four accounts.
# `seed=0` makes the passwords, tags and branches the same on every run, so your
# output matches this notebook's (the port numbers still change).

# %%
lab = await siplab.lab.start(seed=0)
lab

# %% [markdown]
# The server listens on UDP, TCP and WebSocket (what a browser uses). Each account has
# an *address of record*, the SIP URI people call, and a digest password that the
# lab never prints (you can still read it as `lab.accounts["alice"].password`):

# %%
for account in lab.accounts.values():
    print(account)
print()
print("UDP:", lab.url("udp"), "  TCP:", lab.url("tcp"), "  WebSocket:", lab.ws_url)

# %% [markdown]
# ## 2. Two phones
#
# `lab.user_agent(name)` makes a phone (a *user agent*, UA) for an account, opens its
# UDP socket and registers it. We also give both phones and the server a `Trace`, a
# recorder of every SIP message in and out, so that we can look at them afterwards.

# %%
trace = Trace().attach(lab.server)
alice = await lab.user_agent("alice", trace=trace)
bob = await lab.user_agent("bob", trace=trace)

for phone in (alice, bob):
    registerer = phone.registerer()
    print(phone.uri, registerer.state, "for", registerer.expires, "s, reachable at",
          [str(contact.uri) for contact in registerer.contacts])

# %% [markdown]
# Each phone is registered: the server now knows that `sip:bob@127.0.0.1` means "the
# UDP socket at 127.0.0.1, port so-and-so". The `expires` is how long that binding
# lasts; the phone renews it before then by itself (notebook 02 is about all that).

# %% [markdown]
# ## 3. Alice says hello
#
# The simplest SIP request that carries something is `MESSAGE`
# ([RFC 3428](https://www.rfc-editor.org/rfc/rfc3428)): a short text, like a chat
# message. Alice sends one to `bob` (short for `sip:bob@127.0.0.1`, her own domain)
# and waits for the answer; Bob's phone answers `200 OK` by itself and keeps the
# message for us.

# %%
reply = await alice.message("bob", "Hello, Bob!", timeout=5)
hello = await bob.next_message(timeout=5)

print("Bob received:", repr(hello.text), "from", hello.sender.uri)
print("Alice got back:", reply.label)

# %% [markdown]
# ## 4. What went over the wire: the ladder
#
# SIP people draw an exchange as a **ladder**: one vertical line per element, time
# running down, one arrow per message. `text_ladder` draws the trace with characters;
# `names` gives the server's address a readable name.

# %%
names = {f"{lab.udp.host}:{lab.udp.port}": "server"}
print(text_ladder(trace, names=names))

# %% [markdown]
# Read it from the top:
#
# 1. **Alice registers.** Her first `REGISTER` is refused with `401 Unauthorized`,
#    which carries a *challenge*; her phone answers it with a second `REGISTER` that
#    proves she knows the password without sending it, and gets `200 OK`.
# 2. **Bob registers**, the same way.
# 3. **The MESSAGE** goes from Alice to the server, which looks up Bob's binding and
#    forwards it to Bob's phone. Bob's `200 OK` comes back the same way.
#
# `siplab.lab.ladder` draws the same ladder as a figure (a matplotlib `Figure`; save
# it with `.savefig("hello.png")`). Each colour is one Call-ID, one conversation:
# Alice's registration, Bob's, and the MESSAGE. The numbers on the left are seconds
# since the first message:

# %%
siplab.lab.ladder(trace, names=names, title="Alice says hello to Bob")

# %% [markdown]
# And here is the MESSAGE as Bob's phone received it. A SIP message is a **start
# line** (method, *Request-URI*, version), **headers**, an empty line, and a **body**.
# Notebook 01 takes it apart line by line; for now notice that the proxy has changed
# the Request-URI to Bob's registered address, added its own `Via` line on top, and
# counted `Max-Forwards` down from 70 to 69.

# %%
print(hello.request)

# %% [markdown]
# ## 5. The server's view
#
# The server keeps a *location service*: for each address of record, the bindings its
# phones registered. `stats()` counts what it holds right now. The transactions are
# not zero yet: over UDP a server keeps a finished transaction for a while (up to 32 s)
# to answer a retransmitted copy of the request again (notebook 03 explains the
# timers).

# %%
for binding in lab.server.core.location:
    print(f"{binding.aor:<22} -> {binding.uri}   (registered from {binding.source})")
print()
print(lab.server.stats())

# %% [markdown]
# ## Exercise: Bob answers
#
# Make **Bob** send Alice a MESSAGE whose text is exactly `Hi Alice!`, and put the
# response he gets back (what `message()` returns) in `bob_reply`. Then run the check
# cell after it.

# %% tags=["exercise"] id="exercise-bob-answers"
bob_reply = None  # await bob.message(...)

# %% [markdown]
# The check looks at what Alice's phone received.

# %% tags=["check", "raises-exception"] id="check-bob-answers"
assert bob_reply is not None, "replace None with Bob's MESSAGE (await bob.message(...))"
assert bob_reply.status == 200, f"Bob's MESSAGE got {bob_reply.label}, not 200 OK"
answer_to_alice = await alice.next_message(timeout=5)
assert answer_to_alice.sender.uri.user == "bob", f"the message came from {answer_to_alice.sender}"
assert answer_to_alice.text == "Hi Alice!", f"Alice read {answer_to_alice.text!r}"
print(f"Correct: Alice received {answer_to_alice.text!r} from {answer_to_alice.sender.uri}.")

# %% [markdown]
# ## 6. See it in Wireshark
#
# The trace can be written as a **pcap** file, the format of packet captures:
# Wireshark, tshark and sngrep open it as if they had listened on the network. It goes
# into `captures/`, a folder next to this notebook (git ignores it).

# %%
CAPTURES = Path("captures")
CAPTURES.mkdir(exist_ok=True)
pcap = trace.to_pcap(CAPTURES / "00_hello.pcap")
print("wrote", pcap.resolve())

# %% [markdown]
# **In Wireshark:** *File → Open* the file, type `sip` in the display filter, then
# *Telephony → SIP Flows*, select the flows and press *Flow Sequence*: Wireshark draws
# the same ladder. Click a MESSAGE and unfold *Session Initiation Protocol* to see its
# headers.
#
# **With tshark** (Wireshark's command line), the same list. Wireshark recognises SIP
# on port 5060 by itself; the lab's server listens on another port, so the command
# says "decode that port as SIP" with `-d`:

# %%
command = ["tshark", "-r", str(pcap), "-Y", "sip", "-d", f"udp.port=={lab.udp.port},sip"]
print("$", " ".join(command))
if shutil.which("tshark"):
    print(subprocess.run(command, capture_output=True, text=True, timeout=60).stdout)
else:
    print("(tshark is not installed here: apt install tshark, or open the file in Wireshark)")

# %% [markdown]
# ## 7. Where everything is
#
# | where | what |
# |---|---|
# | `siplab/sip/` | SIP itself, no sockets, no clock: messages, transactions, dialogs, digest, registration, calls, the server's registrar and proxy |
# | `siplab/sdp/`, `siplab/rtp/` | session descriptions and offer/answer; RTP packets, G.711, jitter, DTMF |
# | `siplab/aio/` | the only code with sockets and a real clock: `UserAgent`, `LabServer`, transports |
# | `siplab/lab/` | the instruments: `start()`, `SimNetwork`, `Trace`, ladders, state diagrams, pcap reading and writing, plots |
# | `siplab/cli.py` | the `siplab` command: `siplab server`, `siplab call`, `siplab ladder capture.pcap -o ladder.png`, `siplab analyze` |
# | `notebooks/` | this course; `notebooks/solutions/` has the exercises' solutions, `notebooks/captures/` the pcaps the notebooks write |
# | `data/` | captures and audio the later notebooks use, with the scripts that made them |
# | `tests/` | the proofs: every RFC flow, interop with sipp, Kamailio, baresip and browsers |
#
# Every module starts with a docstring that explains its part of SIP with the RFC
# sections it follows: `help(siplab.sip.message)`, or open the file. The course:
#
# 1. `00_start_here`: this notebook.
# 2. `01_sip_messages`: requests and responses line by line; build them, parse them,
#    fix broken ones.
# 3. `02_registration`: REGISTER, the digest challenge computed by hand, refresh,
#    query, unregister; RFC 3665's registration flows.
# 4. `03_invite_ladder`: a call from INVITE to BYE, transactions and dialogs, CANCEL,
#    busy and no answer, and the retransmission timers on a lossy network.
# 5. `04_sdp_codec_negotiation`: offers and answers, codecs, DTMF, hold, 488.
#
# and then RTP audio, WebRTC in the browser, captures to replay, forking and Kamailio.

# %% [markdown]
# ## 8. Stop the lab
#
# `lab.stop()` unregisters and stops every phone it made, then the server. (Closing
# the notebook's kernel does it too.)

# %%
await lab.stop()
print(lab.server, alice, sep="\n")

# %% [markdown]
# ## Recap
#
# - SIP sets calls up with text messages; a phone *registers* its address with a
#   registrar and sends its requests through a proxy, which forwards them to the
#   registered phone. siplab's `LabServer` is both, and `siplab.lab.start()` runs one
#   inside the notebook with ready accounts.
# - `lab.user_agent(name)` gives a started, registered phone; `await phone.message(...)`
#   sends a MESSAGE and returns the response; `await phone.next_message()` reads one.
# - A `Trace` records every message; `text_ladder` and `siplab.lab.ladder` draw it as
#   a ladder, and `trace.to_pcap(...)` writes it for Wireshark.
# - siplab's protocol code takes `now` as an argument and does no I/O, so the same
#   code runs on sockets (here) and on the simulated network of later notebooks.
#
# ## What's next
#
# `01_sip_messages` takes the messages you saw apart: the start line, each header
# that matters (Via, From and To tags, Call-ID, CSeq, Contact, Route), how to build
# them and how to read the error a broken one gets. To see the simulated network and
# its clock at work right away, jump to `03_invite_ladder`: it sends an INVITE nobody
# answers and watches Timers A and B retransmit it and give up, 32 seconds in a
# millisecond.
