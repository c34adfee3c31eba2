"""Source of notebooks/03_invite_ladder.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; `%matplotlib inline` and top-level `await` are IPython's (this
# file is a notebook's source, not a module to import).
# ruff: noqa: B015, B018, F704, I002, PLE1142, RUF003

# %% [markdown]
# # 03 · The INVITE ladder: a call, its transactions, its dialog and its timers
#
# **Goals.** By the end of this notebook you can
#
# - follow a call from INVITE to BYE and say what each message is for: 100 Trying,
#   180 Ringing, 200 OK, ACK, BYE;
# - tell a **transaction** (one request and its responses, one hop, named by the Via
#   branch) from the **dialog** (the call between the two phones, named by the Call-ID
#   and the two tags);
# - cancel a call, and recognise the unsuccessful calls of RFC 3665: no answer, busy,
#   no response, temporarily unavailable (§3.8 to §3.11);
# - predict when a lost message is sent again and when a transaction gives up
#   (Timers A, B, D, E, F and the 2xx retransmissions), and watch it happen on a
#   network that loses packets on purpose;
# - read the transaction state machine of RFC 3261 (Figure 5), drawn from siplab's
#   own table, with the path a real transaction took.
#
# **Prerequisites.** `00_start_here`, `01_sip_messages` (Via, tags, CSeq, Route) and
# `02_registration` (the phones are registered).
#
# **Time to learn.** About an hour. The notebook runs in a few seconds: the simulated
# network runs minutes of timers in milliseconds.

# %%
%matplotlib inline
import asyncio
import shutil
import subprocess
from pathlib import Path

from IPython.display import Markdown, display

import siplab.lab
from siplab.aio import CallFailed, TraceRecord
from siplab.ids import IdSource
from siplab.lab import DropAll, DropIf, DropNext, SimNetwork, Trace, text_ladder
from siplab.sip import (
    IncomingCall,
    InviteClientTransaction,
    Peer,
    RequestReceived,
    ResponseReceived,
    ServerConfig,
    ServerCore,
    SessionTerminated,
    TimerConfig,
    TransactionLayer,
    TransactionTimedOut,
    UserAgentConfig,
    UserAgentCore,
    build_request,
    build_response,
    parse_message,
)


def table(rows: list[dict[str, object]]) -> Markdown:
    """Show a list of dicts as a table (one row per dict, the keys as columns)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (str(row[c]).replace("|", "\\|") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return Markdown("\n".join(lines))

# %% [markdown]
# ## 1. A call, from INVITE to BYE (RFC 3665 §3.1)
#
# Alice and Bob are registered with the lab's proxy. Alice calls Bob; his phone rings;
# he answers; they talk; Alice hangs up. Each step is one line of the friendly API
# (`siplab.aio`, in the style of SIP.js): `call()` and `bye()` for the caller,
# `next_invitation()`, `progress()` and `accept()` for the callee, and `await` for
# each outcome.

# %%
lab = await siplab.lab.start(seed=3)
trace = Trace().attach(lab.server)
alice = await lab.user_agent("alice", trace=trace)
bob = await lab.user_agent("bob", trace=trace)
PROXY, ALICE, BOB = lab.udp, alice.local, bob.local
names = {f"{p.host}:{p.port}": name for p, name in ((PROXY, "proxy"), (ALICE, "alice"),
                                                    (BOB, "bob"))}

trace.clear()  # forget the registrations
call = await alice.call("bob")  # the INVITE goes out, with Alice's SDP offer
incoming = await bob.next_invitation(timeout=5)
print("Bob's phone rings, a call from", incoming.remote_identity.uri, "-", incoming.state)
await incoming.progress()  # 180 Ringing
ringback = await call.progressed(timeout=5)
print("Alice hears", ringback.label)
await incoming.accept()  # 200 OK, with Bob's SDP answer
await call.established(timeout=5)
print("Alice:", call.state, " Bob:", incoming.state)
await asyncio.sleep(0.1)  # they talk (the audio flows as RTP, outside SIP)
print("Alice hangs up:", await call.bye(timeout=5), "/ Bob's side:",
      await incoming.terminated(timeout=5))

# %%
siplab.lab.ladder(trace, names=names, cseq=True, title="Alice calls Bob (RFC 3665 §3.1)")

# %% [markdown]
# What each message is for:
#
# | message | from → to | what it says |
# |---|---|---|
# | **INVITE** | Alice → proxy → Bob | "let's talk": the session Alice offers (the SDP body, notebook 04) |
# | **100 Trying** | each hop back | "got it, working on it": stops the retransmissions on that hop; never forwarded |
# | **180 Ringing** | Bob → proxy → Alice | the phone rings; the first message with Bob's **To tag**: an *early dialog* exists |
# | **200 OK** | Bob → proxy → Alice | Bob picked up; carries his answer to the offer; the dialog is *confirmed* |
# | **ACK** | Alice → proxy → Bob | "I got your 200": the INVITE is the one request with a three-way handshake, because answering may take minutes |
# | **BYE**, **200 OK** | Alice → proxy → Bob and back | hang up: a new request inside the dialog |
#
# The proxy stays on the path for the ACK and the BYE because it added Record-Route to
# the INVITE (notebook 01). Without it, the phones would send them to each other's
# Contact directly.

# %% [markdown]
# ## 2. Transactions and dialogs
#
# Two different things are going on in that ladder:
#
# - a **transaction** (RFC 3261 §17) is one request and all its responses, *on one
#   hop*. It is named by the top Via **branch** plus the CSeq method. Transactions are
#   what retransmit over UDP and time out;
# - a **dialog** (§12) is the relationship between the two *phones*, end to end, from
#   the first response with a To tag until the BYE. It is named by **Call-ID, From tag
#   and To tag**, and it remembers the CSeq numbers, the remote target (Contact) and the
#   route set.
#
# Here are the messages again, with their transaction (numbered by branch) and their
# dialog:

# %%
def who(peer: Peer) -> str:
    return {PROXY: "proxy", ALICE: "alice", BOB: "bob"}.get(peer, str(peer))


branches: dict[str, int] = {}
rows = []
for w in trace.messages:
    m = w.message
    number = branches.setdefault(m.branch, len(branches) + 1)
    in_dialog = m.from_tag and m.to_tag
    rows.append({
        "message": f"{who(w.src)} → {who(w.dst)}: {w.label}",
        "CSeq": str(m.cseq),
        "branch": f"#{number} …{m.branch[-6:]}",
        "dialog": f"{m.call_id[:6]}… / {m.from_tag} / {m.to_tag}" if in_dialog else "(none yet)",
    })
table(rows)

# %% [markdown]
# Read the branch column: **each hop has its own transactions** (the proxy is a client
# on one side and a server on the other), and the INVITE, its ACK and the BYE each have
# a branch of their own. The ACK of a **2xx** is special: it is not part of the INVITE
# transaction, it is a new request of the dialog sent end to end (§13.2.2.4). The 100
# Trying, on the other hand, belongs to one hop only: it is never forwarded.
#
# Read the dialog column: one dialog, the same on both hops (a proxy never changes
# Call-ID or tags), from the 180 on. Alice's phone keeps it in `call.dialog`:

# %%
call.dialog

# %% [markdown]
# The phones' call logic (the *session*) is a state machine too: Initial, Establishing,
# Established, Terminating, Terminated. siplab draws it from the table its code runs,
# with the path Alice's call took (the times are her phone's clock, the event loop's,
# which counts seconds from an arbitrary start):

# %%
siplab.lab.diagram("outgoing session", highlight=call.core, actions="none")

# %% [markdown]
# ## Exercise: how many transactions?
#
# From its INVITE to the end of the call, how many **client transactions** did
# Alice's phone start? Put a number in `alice_transactions`.

# %% tags=["exercise"] id="exercise-count-transactions"
alice_transactions = None  # a number

# %% tags=["check", "raises-exception"] id="check-count-transactions"
assert alice_transactions is not None, "replace None with a number"
sent_by_alice = [w.message for w in trace.messages if w.src == ALICE]
started = {(m.branch, m.cseq.method) for m in sent_by_alice if m.method != "ACK"}
assert alice_transactions != len(sent_by_alice), (
    f"{len(sent_by_alice)} is the number of requests Alice sent: is each of them a transaction?")
assert alice_transactions == len(started), (
    f"not {alice_transactions}: count the requests that start a transaction. The ACK of a "
    "2xx does not (§13.2.2.4, §17.1.1.3)")
print(f"Correct: {len(started)} client transactions (INVITE and BYE); the ACK for the "
      "200 OK is sent outside any transaction.")

# %% [markdown]
# ## 3. Calls that do not succeed (RFC 3665 §3.8 to §3.11)
#
# Most calls end before a 200 OK. A final response of 300 to 699 ends the INVITE, and
# the caller's phone acknowledges it with an ACK that, this time, *is* part of the
# INVITE transaction: same branch, hop by hop, sent by the transaction itself
# (§17.1.1.3). `CallFailed` tells the caller's code what happened.
#
# **§3.8, no answer: Alice gives up (CANCEL).** Bob's phone rings and rings; Alice
# hangs up before he answers. Her phone sends **CANCEL**, which asks to stop the
# pending INVITE: it gets its own `200 OK`, and the INVITE then ends with `487 Request
# Terminated`.

# %%
trace.clear()
call = await alice.call("bob")
incoming = await bob.next_invitation(timeout=5)
await incoming.progress()
await call.progressed(timeout=5)
print("Alice gives up:", await call.cancel(timeout=5), "- status", call.status)
print(text_ladder(trace, names=names))

# %% [markdown]
# A CANCEL is hop by hop too: the proxy answers Alice's CANCEL itself and sends its own
# to Bob. It copies the INVITE's branch and CSeq number (it names the transaction it
# cancels), but it is a transaction of its own (the CSeq method differs):

# %%
for w in trace.messages:
    if w.label in ("INVITE", "CANCEL", "487 Request Terminated", "ACK") and ALICE in (w.src, w.dst):
        print(f"{w.label:<24} CSeq {str(w.message.cseq):<10} branch {w.message.branch}")

# %% [markdown]
# **§3.9, busy.** Bob's phone refuses the call with `486 Busy Here`:

# %%
trace.clear()
call = await alice.call("bob")
incoming = await bob.next_invitation(timeout=5)
await incoming.reject(486)
try:
    await call.established(timeout=5)
except CallFailed as failure:
    print("CallFailed:", failure, "- status", failure.status)
print(text_ladder(trace, names=names))

# %% [markdown]
# **§3.11, temporarily unavailable.** Bob's phone rings, then says `480 Temporarily
# Unavailable` (do not disturb). The proxy says the same when nobody is registered for
# the address, as for Dave, who has an account but no phone on line:

# %%
trace.clear()
call = await alice.call("bob")
incoming = await bob.next_invitation(timeout=5)
await incoming.progress()
await incoming.reject(480)
to_dave = await alice.call("dave")
for attempt in (call, to_dave):
    try:
        await attempt.established(timeout=5)
    except CallFailed as failure:
        print(f"call to {attempt.remote_identity.uri}: {failure}")
print(text_ladder(trace, names=names))

# %% [markdown]
# **§3.10, no response.** Bob's phone vanished without unregistering (its battery
# died). The proxy forwards the INVITE to the registered Contact and nothing comes
# back. Waiting for that in the live lab would take 32 real seconds, so we use the
# simulated network: the same proxy (`ServerCore`) and phones (`UserAgentCore`) as the
# live lab runs, at RFC 3665's addresses, 10 ms apart, on a clock we control.

# %%
DOMAIN = "biloxi.example.com"
PROXY_SIM = Peer("10.0.0.100", 5060)
HOSTS = {"alice": "10.0.0.1", "bob": "10.0.0.2"}
PASSWORDS = {"alice": "wonderland", "bob": "builder"}
SIM_NAMES = {"10.0.0.100:5060": "proxy", "10.0.0.1:5060": "alice", "10.0.0.2:5060": "bob"}


def sim_lab(seed: int = 1) -> tuple[SimNetwork, UserAgentCore, UserAgentCore]:
    """A SimNetwork with the proxy of biloxi.example.com and two registered phones."""
    net = SimNetwork(seed=seed, delay=0.01)
    config = ServerConfig(listen=(PROXY_SIM,), domains=(DOMAIN,), users=PASSWORDS)
    net.add(ServerCore(config, ids=IdSource(f"proxy-{seed}")), PROXY_SIM.host, 5060,
            name="proxy")
    phones = []
    for name, host in HOSTS.items():
        config = UserAgentConfig(aor=f"sip:{name}@{DOMAIN}", password=PASSWORDS[name],
                                 local=Peer(host, 5060), outbound=PROXY_SIM)
        phone = UserAgentCore(config, ids=IdSource(f"{name}-{seed}"))
        net.add(phone, host, 5060, name=name)
        phone.register(net.now)
        phones.append(phone)
    net.run_until(1.0)
    for phone in phones:  # the registration events are not our topic here
        list(iter(phone.next_event, None))
    return net, *phones


def sdp(owner: str) -> bytes:
    """A small SDP body (notebook 04 is about what it says)."""
    host = HOSTS[owner]
    return (f"v=0\r\no={owner} 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            "m=audio 49170 RTP/AVP 0\r\na=sendrecv\r\n").encode()


def ring(net: SimNetwork, phone: UserAgentCore, seconds: float = 1.0):
    """Run until `phone` reports an incoming call; return its session."""
    deadline = net.now + seconds
    while net.now < deadline:
        for event in iter(phone.next_event, None):
            if isinstance(event, IncomingCall):
                return event.session
        net.run_until(net.now + 0.01)
    raise AssertionError("no call arrived")


net, alice_sim, bob_sim = sim_lab()
start = len(net.records)
net.link("proxy", "bob", loss=DropAll())  # Bob's phone is gone
alice_sim.call(f"sip:bob@{DOMAIN}", net.now, body=sdp("alice"))
net.run_until(net.now + 40)
ended = [e for e in iter(alice_sim.next_event, None) if isinstance(e, SessionTerminated)]
print(f"Alice's call ended: {ended[0].cause}, status {ended[0].status}")
siplab.lab.ladder(net.records[start:], names=SIM_NAMES,
                  title="RFC 3665 §3.10: no response from Bob's phone")

# %% [markdown]
# The proxy's INVITE to Bob is sent 7 times, at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s,
# then the proxy gives up and answers Alice `408 Request Timeout`. Those numbers are
# the retransmission timers of the INVITE client transaction, the subject of the next
# section.

# %% [markdown]
# ## 4. Retransmission timers (RFC 3261 §17)
#
# SIP often runs over UDP, which loses datagrams without telling anyone. So the sender
# of a request keeps a *client transaction* that sends it again until an answer comes,
# and the receiver keeps a *server transaction* that absorbs the copies and answers
# each one with its last response. For an INVITE:
#
# - **Timer A** retransmits. It starts at **T1** (an estimate of the round-trip time,
#   500 ms by default) and **doubles** each time it fires: the INVITE goes out at 0,
#   0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s.
# - **Timer B** gives up after **64 × T1** = 32 s: the transaction times out.
#
# Let's watch one transaction alone. Alice is a bare `TransactionLayer` (the part of a
# phone that owns its transactions) at 10.0.0.1:5060 on a fresh `SimNetwork`. Bob's
# address, 10.0.0.2:5060, has nobody behind it, so every INVITE is lost.

# %%
ids = IdSource(seed=1)
invite = build_request(
    "INVITE", "sip:bob@10.0.0.2",
    from_="Alice <sip:alice@10.0.0.1>", to="Bob <sip:bob@10.0.0.2>",
    via_host="10.0.0.1", via_port=5060, contact="<sip:alice@10.0.0.1:5060>", ids=ids,
)
net = SimNetwork()
alice_layer = TransactionLayer()
net.add(alice_layer, "10.0.0.1", 5060, name="alice")
transaction = alice_layer.send_request(invite, Peer("10.0.0.2", 5060), net.now)
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
# Each line shows the deadlines *after* the clock reached `t`. Timer A's deadline moves
# 0.5, 1, 2, 4, 8, 16 s further each time: the interval doubles. At 31.5 s the next
# retransmission would be at 63.5 s, but Timer B fires first, at 32 s, and the
# transaction ends in **Terminated**. The layer above (the *transaction user*: the
# phone's call logic) learns it from an event, not an exception: a timeout is an
# outcome of the protocol, not a bug.

# %%
for event in iter(alice_layer.next_event, None):
    print(event)
print(transaction.format_history())

# %% [markdown]
# ## Exercise: Timer B with a slower network
#
# On a satellite link you might set **T1 = 1 s** instead of 500 ms
# (`TimerConfig(t1=1.0)`). If nobody answers an INVITE, **at what time, in seconds after
# it was first sent, does Timer B fire?** Put your answer in `timer_b` (a number).

# %% tags=["exercise"] id="exercise-timer-b"
timer_b = None  # your answer, in seconds

# %% [markdown]
# The check runs the same experiment with T1 = 1 s and compares.

# %% tags=["check", "raises-exception"] id="check-timer-b"
assert timer_b is not None, "replace None with your answer (a number of seconds)"
check_net = SimNetwork()
check_layer = TransactionLayer(timers=TimerConfig(t1=1.0))
check_net.add(check_layer, "10.0.0.1", 5060)
check_transaction = check_layer.send_request(invite.copy(), Peer("10.0.0.2", 5060), 0.0)
check_net.run()
fired = check_transaction.history[-1][0]
assert timer_b == fired, f"not {timer_b} s: Timer B is a fixed multiple of T1"
print(f"Correct: Timer B fires at {fired:g} s.")

# %% [markdown]
# ### Requests other than INVITE: Timers E and F
#
# A BYE, a REGISTER or a MESSAGE is a *non-INVITE* transaction. It retransmits on
# **Timer E**, which also starts at T1 and doubles, but never waits more than **T2**
# (4 s): a non-INVITE request is expected to be answered quickly, so it keeps asking
# every 4 s. **Timer F** gives up after 64 × T1 = 32 s, like Timer B. (You saw them in
# notebook 02, on the REGISTERs of an unplugged phone.)
#
# ## Exercise: how many BYEs?
#
# Alice sends a BYE over UDP to an address where nobody answers. **How many times in
# total does the BYE go out** (the first one included) before Timer F ends the
# transaction? Put a number in `bye_copies`.

# %% tags=["exercise"] id="exercise-bye-copies"
bye_copies = None  # a number

# %% tags=["check", "raises-exception"] id="check-bye-copies"
assert bye_copies is not None, "replace None with a number"
bye = build_request("BYE", "sip:bob@10.0.0.2", from_="<sip:alice@10.0.0.1>;tag=a1",
                    to="<sip:bob@10.0.0.2>;tag=b1", via_host="10.0.0.1", via_port=5060,
                    ids=IdSource(seed=5), cseq=2)
bye_net = SimNetwork()
bye_layer = TransactionLayer()
bye_net.add(bye_layer, "10.0.0.1", 5060)
bye_transaction = bye_layer.send_request(bye, Peer("10.0.0.2", 5060), 0.0)
bye_net.run()
times = [r.time_sent for r in bye_net.records]
assert bye_copies != 7, "7 is the INVITE's count: Timer E stops doubling at T2 = 4 s"
assert bye_copies == len(times), f"not {bye_copies}: list the times Timer E fires, up to 32 s"
print(f"Correct: {len(times)} BYEs, at {', '.join(f'{t:g}' for t in times)} s; "
      f"Timer F at {bye_transaction.history[-1][0]:g} s.")

# %% [markdown]
# ### A lossy network, a whole call
#
# Now the real phones and proxy again, on a network that loses three datagrams on
# purpose: Alice's first INVITE, Bob's first 200 OK, and Alice's first BYE. Each is
# recovered by a different mechanism:
#
# - the lost **INVITE**: Alice's INVITE client transaction, **Timer A**;
# - the lost **200 OK**: Bob's phone itself. The INVITE server transaction ends as
#   soon as it sends a 2xx, so the callee's *phone* (the UA core) sends the 200 again,
#   T1, 2·T1, 4·T1... apart (up to T2), until the ACK arrives (§13.3.1.4);
# - the lost **BYE**: Alice's non-INVITE client transaction, **Timer E**.

# %%
def first_of(*methods: str):
    """A predicate for DropIf: true for the first request of each of `methods` only."""
    seen: set[str] = set()

    def predicate(start_line: str) -> bool:
        method = start_line.split(" ", 1)[0]
        if method in methods and method not in seen:
            seen.add(method)
            return True
        return False
    return predicate


lossy, alice_sim, bob_sim = sim_lab(seed=2)
call_start = len(lossy.records)
lossy.link("alice", "proxy", loss=DropIf(first_of("INVITE", "BYE"), name="first INVITE, BYE"),
           both_ways=False)
lossy.link("bob", "proxy", loss=DropIf(lambda line: line == "SIP/2.0 200 OK", limit=1,
                                       name="first 200 OK"), both_ways=False)

outgoing = alice_sim.call(f"sip:bob@{DOMAIN}", lossy.now, body=sdp("alice"))
invite_transaction = next(t for t in alice_sim.layer.client_transactions.values()
                          if isinstance(t, InviteClientTransaction))
session = ring(lossy, bob_sim)
bob_sim.progress(session, lossy.now)
lossy.run_until(lossy.now + 1)
bob_sim.accept(session, lossy.now, body=sdp("bob"))
lossy.run_until(lossy.now + 2)
alice_sim.bye(outgoing, lossy.now)
lossy.run_until(lossy.now + 2)
lossy_records = lossy.records[call_start:]
siplab.lab.ladder(lossy_records, names=SIM_NAMES,
                  title="A call on a lossy network: every loss recovered")

# %% [markdown]
# The crosses are the lost datagrams; the dashed arrows the copies that recovered them.
# The timing, message by message:

# %%
t0 = lossy_records[0].time_sent
for row in siplab.lab.flow(lossy_records):
    note = " (lost)" if row.dropped else (" (retransmission)" if row.retransmission else "")
    print(f"{row.time - t0:7.3f} s  {lossy.name_of(row.src):>5} → {lossy.name_of(row.dst):<5} "
          f"{row.label}{note}")

# %% [markdown]
# ## 5. The transaction state machine, drawn from its table
#
# RFC 3261 draws each kind of transaction as a state machine (Figures 5 to 8; RFC 6026
# added the *Accepted* state to the INVITE client). siplab writes each one as a table,
# `(state, input) -> (next state, actions)`, and the code does nothing but look rows
# up. So a drawing made from the table *is* the behaviour. Here is the INVITE client
# transaction, with the path of Alice's INVITE on the lossy network in orange: Timer A
# after the lost INVITE, the 100 Trying and the 180 (*Proceeding*), the 2xx
# (*Accepted*, where it waits for copies of the 2xx), and Timer M, 32 s later, which
# ends it. (We let the simulated clock run on for that.)

# %%
lossy.run_until(lossy.now + 40)
siplab.lab.diagram("INVITE client", highlight=invite_transaction)

# %% [markdown]
# The same table drives its history, one row per input:

# %%
print(invite_transaction.format_history())

# %% [markdown]
# And the server side: the proxy and Bob's phone each ran an **INVITE server**
# transaction. Here is one driven by hand on a bare transaction layer, answering 180
# then `486 Busy Here`; the ACK for the 486 moves it to *Confirmed*, where Timer I
# absorbs copies of the ACK before it terminates:

# %%
net = SimNetwork(delay=0.05)
alice_layer, bob_layer = TransactionLayer(), TransactionLayer()
net.add(alice_layer, "10.0.0.1", 5060, name="alice")
bob_address = net.add(bob_layer, "10.0.0.2", 5060, name="bob")
client = alice_layer.send_request(invite.copy(), bob_address, net.now)
net.run_until(0.1)
request_event = next(e for e in iter(bob_layer.next_event, None)
                     if isinstance(e, RequestReceived))
server = request_event.transaction
bob_tag = ids.tag()
bob_layer.send_response(server, build_response(request_event.request, 180, to_tag=bob_tag),
                        net.now)
net.run_until(2.0)
bob_layer.send_response(server, build_response(request_event.request, 486, to_tag=bob_tag),
                        net.now)
net.run()
net.print_log()
print("Alice saw:", [e.response.label for e in iter(alice_layer.next_event, None)
                     if isinstance(e, ResponseReceived)])
siplab.lab.diagram("INVITE server", highlight=server)

# %% [markdown]
# Nobody asked Alice's code for that ACK: for a final response of 300 to 699 the INVITE
# client transaction sends it itself (§17.1.1.3), with the INVITE's branch. Then both
# sides wait before forgetting the transaction: Alice's in *Completed* for Timer D
# (32 s) to answer copies of the 486 with copies of the ACK, Bob's in *Confirmed* for
# Timer I (T4 = 5 s). The timers in a table, all from RFC 3261 Table 4:
#
# | timer | transaction | what it does | value |
# |---|---|---|---|
# | A | INVITE client | retransmit the INVITE | T1, doubling |
# | B | INVITE client | give up: no final response | 64·T1 = 32 s |
# | D | INVITE client | stay in Completed for copies of a 3xx-6xx | 32 s |
# | M | INVITE client | stay in Accepted for copies of a 2xx (RFC 6026) | 64·T1 |
# | E | non-INVITE client | retransmit the request | T1, doubling up to T2 = 4 s |
# | F | non-INVITE client | give up | 64·T1 |
# | K | non-INVITE client | stay in Completed for copies of the response | T4 = 5 s |
# | G | INVITE server | retransmit a 3xx-6xx until the ACK | T1, doubling up to T2 |
# | H | INVITE server | give up waiting for the ACK | 64·T1 |
# | I | INVITE server | stay in Confirmed for copies of the ACK | T4 |
# | J | non-INVITE server | stay in Completed for copies of the request | 64·T1 |
# | L | INVITE server | stay in Accepted for copies of the INVITE (RFC 6026) | 64·T1 |
#
# Over TCP or WebSocket the transport does not lose messages, so the retransmission
# timers are not used and the waiting ones are zero.

# %% [markdown]
# ## 6. See it in Wireshark
#
# Two captures: the live calls of sections 1 to 3 (the last trace: §3.11), and the
# lossy call of section 4 from the simulated network. The simulated one is written as
# if captured at the senders, so the lost datagrams are in it too, followed by their
# copies.

# %%
CAPTURES = Path("captures")
CAPTURES.mkdir(exist_ok=True)
live_pcap = trace.to_pcap(CAPTURES / "03_invite_ladder.pcap")

sim_trace = Trace()
for record in lossy_records:
    sim_trace(TraceRecord(1_700_000_000 + record.time_sent, "out", "udp", record.src,
                          record.dst, record.data))
lossy_pcap = sim_trace.to_pcap(CAPTURES / "03_lossy_call.pcap")
print("wrote", live_pcap.resolve(), lossy_pcap.resolve(), sep="\n")

# %% [markdown]
# In Wireshark, open `03_lossy_call.pcap`, then *Telephony → VoIP Calls*, select the
# call and press *Flow Sequence*: Wireshark's own ladder. Wireshark notices
# retransmissions too: the field `sip.resend` is 1 on a copy of an earlier message
# (filter `sip.resend == 1`). tshark shows the same:

# %%
fields = ["frame.time_relative", "ip.src", "ip.dst", "sip.Method", "sip.Status-Code",
          "sip.CSeq", "sip.resend"]
command = ["tshark", "-r", str(lossy_pcap), "-Y", "sip", "-T", "fields", "-E", "header=y",
           *[arg for field in fields for arg in ("-e", field)]]
print("$", " ".join(command))
if shutil.which("tshark"):
    print(subprocess.run(command, capture_output=True, text=True, timeout=60).stdout)
else:
    print("(tshark is not installed here: apt install tshark, or open the file in Wireshark)")

# %%
await lab.stop()

# %% [markdown]
# ## Recap
#
# - A call: INVITE (with an offer), 100 Trying on each hop, 180 Ringing (an early
#   dialog), 200 OK (the answer; the dialog is confirmed), ACK, and later BYE / 200 OK.
# - A **transaction** is one request and its responses on one hop, named by the Via
#   branch and the CSeq method; a **dialog** is the call between the two phones, named
#   by Call-ID, From tag and To tag. The ACK of a 2xx is not part of any transaction;
#   the ACK of a 3xx-6xx is part of the INVITE's.
# - CANCEL stops a ringing call: 200 OK for the CANCEL, 487 for the INVITE, ACK. A
#   callee refuses with 486 (busy) or 480 (unavailable, also what a proxy says for a
#   user with no phone registered); no response at all ends in 408 after Timer B.
# - Over UDP the INVITE is retransmitted on Timer A (T1, doubling) until Timer B
#   (64·T1); other requests on Timer E (doubling up to T2) until Timer F; a callee's
#   phone resends its 200 OK until the ACK comes.
# - siplab's transactions and sessions are tables; `siplab.lab.diagram` draws them, with
#   the history of a live object on top.
#
# ## What's next
#
# `04_sdp_codec_negotiation` opens the bodies of the INVITE and the 200 OK: the SDP
# offer and answer that decide the codec, the ports and the direction of the audio,
# hold with a re-INVITE, and what happens when the two phones have no codec in common.
