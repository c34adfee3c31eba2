"""Source of notebooks/00_start_here.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; the notebook's first cell is not a module needing __future__.
# ruff: noqa: B015, B018, I002, RUF003

# %% [markdown]
# # 00 · Start here: a SIP message, a transaction, and a clock you control
#
# **Goals.** By the end of this notebook you can
#
# - say what siplab is and why its SIP code never reads a clock or opens a socket;
# - parse a SIP message and find its method, Request-URI, Call-ID, CSeq, From tag
#   and Via branch;
# - build a correct request with `build_request`;
# - run an INVITE client transaction on a simulated network and predict every
#   retransmission (Timer A) and the moment it gives up (Timer B);
# - read a short ladder: INVITE, 100 Trying, 180 Ringing, 486 Busy Here, ACK.
#
# **Prerequisites.** Python basics (functions, loops, f-strings). No SIP knowledge.
#
# **Time to learn.** About 30 minutes. Running the whole notebook takes a few seconds
# and needs no network.

# %% [markdown]
# ## What siplab is
#
# SIP (the Session Initiation Protocol, [RFC 3261](https://www.rfc-editor.org/rfc/rfc3261))
# is how phones, softphones and browsers set up calls: text messages that look a lot
# like HTTP, sent over UDP, TCP or WebSocket. siplab is a complete SIP stack written
# to be read, plus the instruments to watch it work.
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
# Because time is just an argument, the same code runs on real sockets (`siplab.aio`)
# and inside `SimNetwork`, an in-memory network whose clock only moves when you say
# so. That is how this notebook will run 32 seconds of retransmissions in a millisecond.
#
# | package        | what it holds                                                  |
# |----------------|----------------------------------------------------------------|
# | `siplab.sip`   | messages, transactions, dialogs: SIP itself, standard library only |
# | `siplab.aio`   | real UDP/TCP/WebSocket sockets and the real clock around the core |
# | `siplab.lab`   | teaching tools such as `SimNetwork`                              |

# %%
import siplab
from siplab.ids import IdSource
from siplab.lab import SimNetwork
from siplab.sip import build_request, build_response, parse_message
from siplab.sip.events import RequestReceived, ResponseReceived, TransactionTimedOut
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer

print("siplab", siplab.__version__)

# %% [markdown]
# ## 1. A SIP message, parsed (RFC 3261 §7)
#
# Here is an INVITE, the request that starts a call, in the form of the example in
# RFC 3261 §24.2. A SIP message is a **start line** (for a request: method,
# Request-URI, version), then **headers**, one per line, then an empty line and an
# optional **body**. Lines end with CRLF (`\r\n`), so we convert the text before
# parsing it.

# %%
invite_text = """\
INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Content-Length: 0

"""
wire = invite_text.replace("\n", "\r\n").encode("utf-8")  # what travels on the network
message = parse_message(wire)
message

# %% [markdown]
# `parse_message` returns a `Request` (or a `Response` for a message starting with
# `SIP/2.0`). The start line gives the **method** and the **Request-URI**, where the
# request is going:

# %%
print("method:     ", message.method)
print("Request-URI:", message.uri_text)
print("  parsed:   ", message.uri)

# %% [markdown]
# The headers are an ordered list of `(name, value)` lines. Names are
# case-insensitive, and most have a one-letter compact form (`v` for Via, `i` for
# Call-ID...), so always look them up through `headers`, never by hand:

# %%
for name, value in message.headers:
    print(f"{name:>14}: {value}")
print()
print(message.headers.get("call-id"))  # any case works

# %% [markdown]
# A few headers matter so much that they have typed accessors:
#
# - **Call-ID** names the whole call (every message of it carries the same one);
# - **CSeq** is a sequence number plus the method, and orders requests within a call;
# - the **From tag** is Alice's half of the dialog's name (Bob adds a To tag when he answers);
# - the **Via branch** names this *transaction*: one request and its responses. An
#   RFC 3261 branch starts with the magic cookie `z9hG4bK` (§8.1.1.7).

# %%
print("Call-ID:    ", message.call_id)
print("CSeq:       ", message.cseq, "->", message.cseq.number, message.cseq.method)
print("From:       ", message.from_.display_name, message.from_.uri, "tag", message.from_tag)
print("To tag:     ", message.to_tag, "(none yet: Bob has not answered)")
print("top Via:    ", message.top_via)
print("branch:     ", message.branch, "magic cookie:", message.branch.startswith("z9hG4bK"))

# %% [markdown]
# ## 2. Building a request (RFC 3261 §8.1.1)
#
# Writing headers by hand is error-prone. `build_request` fills in the seven a new
# request needs: Via with a fresh branch, Max-Forwards, To, From with a fresh tag,
# Call-ID, CSeq and (here) Contact. The random parts come from an `IdSource`; with a
# seed, they are the same on every run, so your output matches this notebook's.

# %%
ids = IdSource(seed=1)
invite = build_request(
    "INVITE", "sip:bob@10.0.0.2",
    from_="Alice <sip:alice@10.0.0.1>",
    to="Bob <sip:bob@10.0.0.2>",
    via_host="10.0.0.1", via_port=5060,
    contact="<sip:alice@10.0.0.1:5060>",
    ids=ids,
)
print(invite.to_bytes().decode())

# %% [markdown]
# `to_bytes()` gives the wire form, and parsing it back gives an equal message:

# %%
parse_message(invite.to_bytes()) == invite

# %% [markdown]
# ## 3. An INVITE nobody answers: Timers A and B (RFC 3261 §17.1.1.2)
#
# SIP often runs over UDP, which can lose datagrams. So the sender of a request keeps
# a *client transaction* that retransmits it until an answer comes. For an INVITE:
#
# - **Timer A** retransmits. It starts at **T1** (an estimate of the round-trip time,
#   500 ms by default) and **doubles** each time it fires: the INVITE goes out at
#   0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s.
# - **Timer B** gives up after **64 × T1** = 32 s: the transaction times out.
#
# Let's watch it. Alice is a `TransactionLayer` (it owns her transactions) placed on a
# `SimNetwork` at 10.0.0.1:5060. Bob's address, 10.0.0.2:5060, has nobody behind it,
# so every INVITE is lost. (A link that loses everything, `DropAll()`, would do the
# same.)

# %%
net = SimNetwork()
alice = TransactionLayer()
net.add(alice, "10.0.0.1", 5060, name="alice")
bob_address = Peer("10.0.0.2", 5060, "udp")  # nobody there

transaction = alice.send_request(invite, bob_address, net.now)
print(transaction)
print("state:", transaction.state, " running timers:", transaction.running_timers)

# %% [markdown]
# Nothing has been sent yet: the INVITE waits in Alice's outbox until the network
# runs. `net.run_until(t)` moves the clock to `t`, delivering datagrams and firing
# timers on the way. We step to each moment Timer A is due, then to 32 s:

# %%
for t in [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5, 32]:
    records = net.run_until(t)
    sent = [f"{r.label} (sent at {r.time_sent:g} s)" for r in records]
    print(f"t = {t:>4} s   {transaction.state:<10}  timers {transaction.running_timers}  {sent}")

# %% [markdown]
# Each line shows the deadlines *after* the clock reached `t`. Timer A's deadline
# moves 0.5, 1, 2, 4, 8, 16 s further each time: the interval doubles. At 31.5 s the
# next retransmission would be at 63.5 s, but Timer B fires first, at 32 s, and the
# transaction ends in **Terminated**.
#
# The network kept a record of every datagram:

# %%
net.print_log()
print([r.time_sent for r in net.records])

# %% [markdown]
# The layer above (the *transaction user*, say a phone's call logic) is told what
# happened through events. Protocol outcomes such as a timeout are events, not
# exceptions:

# %%
while (event := alice.next_event()) is not None:
    print(event)
    if isinstance(event, TransactionTimedOut):
        print(f"  -> Timer {event.timer} fired: nobody answered the INVITE")

# %% [markdown]
# And the transaction remembers its own path through the state machine:

# %%
print(transaction.format_history())

# %% [markdown]
# ## 4. Bob answers: 180 Ringing, then 486 Busy Here, and the ACK (§17.1.1, §17.2.1)
#
# Now Bob exists: another `TransactionLayer`, at 10.0.0.2:5060, and each datagram takes
# 50 ms to cross the network. We play Bob's phone by hand: when the INVITE arrives we
# answer 180 Ringing, and two seconds later 486 Busy Here.

# %%
ids = IdSource(seed=2)
net = SimNetwork(delay=0.05)
alice, bob = TransactionLayer(), TransactionLayer()
alice_address = net.add(alice, "10.0.0.1", 5060, name="alice")
bob_address = net.add(bob, "10.0.0.2", 5060, name="bob")

invite = build_request(
    "INVITE", "sip:bob@10.0.0.2",
    from_="Alice <sip:alice@10.0.0.1>", to="Bob <sip:bob@10.0.0.2>",
    via_host="10.0.0.1", via_port=5060, contact="<sip:alice@10.0.0.1:5060>", ids=ids,
)
client = alice.send_request(invite, bob_address, net.now)
net.run_until(0.1)

incoming = bob.next_event()
print(incoming)
assert isinstance(incoming, RequestReceived)
server = incoming.transaction
print("Bob's server transaction:", server.state)

# %% [markdown]
# Bob's transaction layer already answered **100 Trying** on its own (§17.2.1 asks
# for it within 200 ms, so that Alice stops retransmitting). Bob's phone rings: he
# sends 180 Ringing, adding his tag to To. It is the same tag in every response he
# sends, because together with Alice's From tag and the Call-ID it names the dialog.

# %%
bob_tag = ids.tag()
bob.send_response(server, build_response(incoming.request, 180, to_tag=bob_tag), net.now)
net.run_until(2.0)
print("Alice:", client.state, "  Bob:", server.state)

# %% [markdown]
# A provisional (1xx) response moved Alice's transaction to **Proceeding** and stopped
# Timer A: she knows the INVITE arrived. Bob is busy, so he rejects the call:

# %%
bob.send_response(server, build_response(incoming.request, 486, to_tag=bob_tag), net.now)
net.run_until(3.0)
print("Alice:", client.state, "  Bob:", server.state)
net.print_log()

# %% [markdown]
# That is the whole ladder: INVITE, 100 Trying, 180 Ringing, 486 Busy Here, **ACK**.
# Nobody asked Alice's code for the ACK: for a final response 300-699 the INVITE
# client transaction sends it itself (§17.1.1.3). The ACK has the INVITE's branch, so
# it belongs to the same transaction; its To carries Bob's tag; its CSeq has the
# INVITE's number with the method ACK:

# %%
ack = next(r for r in net.records if r.label == "ACK")
print(ack.data.decode())
ack_message = parse_message(ack.data)
print("same branch as the INVITE:", ack_message.branch == invite.branch)
print("CSeq:", ack_message.cseq, "  To tag:", ack_message.to_tag)

# %% [markdown]
# Alice's transaction user saw every response through events:

# %%
while (event := alice.next_event()) is not None:
    if isinstance(event, ResponseReceived):
        print("Alice got", event.response.label)

# %% [markdown]
# Both transactions are now waiting, not finished: Alice's sits in **Completed** for
# Timer D (32 s) to absorb copies of the 486 should Bob retransmit it; Bob's sits in
# **Confirmed** for Timer I (T4 = 5 s) to absorb copies of the ACK. Run the network
# until nothing is left to do:

# %%
net.run()
print(f"t = {net.now:g} s   Alice: {client.state}   Bob: {server.state}")
print("\nAlice's INVITE client transaction:")
print(client.format_history())
print("\nBob's INVITE server transaction:")
print(server.format_history())

# %% [markdown]
# ## Exercise: Timer B with a slower network
#
# On a satellite link you might set **T1 = 1 s** instead of 500 ms
# (`TimerConfig(t1=1.0)`). If nobody answers an INVITE, **at what time, in seconds
# after it was first sent, does Timer B fire?**
#
# Put your answer in `answer` below (a number), then run the check cell after it.

# %% tags=["exercise"] id="exercise-timer-b"
answer = None  # your answer, in seconds

# %% [markdown]
# The check runs the same experiment as section 3 with T1 = 1 s and compares.

# %% tags=["check", "raises-exception"] id="check-timer-b"
assert answer is not None, "replace None with your answer (a number of seconds), then run this cell"
check_net = SimNetwork()
check_layer = TransactionLayer(timers=TimerConfig(t1=1.0))
check_net.add(check_layer, "10.0.0.1", 5060)
check_request = build_request(
    "INVITE", "sip:bob@10.0.0.2", from_="<sip:alice@10.0.0.1>", to="<sip:bob@10.0.0.2>",
    via_host="10.0.0.1", via_port=5060, ids=IdSource(seed=3),
)
check_transaction = check_layer.send_request(check_request, Peer("10.0.0.2", 5060), 0.0)
check_net.run()
timer_b = check_transaction.history[-1][0]
assert answer == timer_b, f"not {answer} s: Timer B is a fixed multiple of T1 (see section 3)"
print(f"Correct: Timer B fires at {timer_b:g} s.")

# %% [markdown]
# ## Recap
#
# - A SIP message is a start line, headers and a body; `parse_message` reads it and
#   `build_request` / `build_response` write correct ones.
# - Call-ID names the call, CSeq orders its requests, the From and To tags name the
#   dialog, and the Via branch (starting `z9hG4bK`) names the transaction.
# - Over UDP an INVITE client transaction retransmits on Timer A, starting at T1 and
#   doubling (0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s), and gives up on Timer B at 64 × T1.
# - A 1xx stops the retransmissions; a 300-699 final response is acknowledged by the
#   transaction itself with an ACK on the same branch.
# - siplab's protocol code takes `now` as an argument, so `SimNetwork` can run it on
#   a clock you control, with the same result on every run.
#
# ## What's next
#
# `01_messages` takes SIP messages apart in depth: URIs, header forms, bodies and
# what makes a message invalid. Later notebooks register with a server
# (`02_registration`) and place real calls (`03_invite_ladder`).
