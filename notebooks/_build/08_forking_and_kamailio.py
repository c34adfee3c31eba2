"""Source of notebooks/08_forking_and_kamailio.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; `%matplotlib inline` and top-level `await` are IPython's (this
# file is a notebook's source, not a module to import).
# ruff: noqa: B015, B018, E402, F704, I002, PLE1142, RUF001, RUF003

# %% [markdown]
# # 08 · Forking, Record-Route, and the same phones against Kamailio
#
# **Goals.** By the end of this notebook you can
#
# - explain **parallel forking**: one user registered from several phones, a proxy
#   that rings them all, and the CANCEL that stops the ones that lost (RFC 3261
#   §16.6–16.7, §16.10);
# - predict which final response a caller gets when every phone says no;
# - read a **Record-Route** header and a dialog's **route set**, and say why the ACK
#   and the BYE come back through the proxy (§12.1, §16.6 step 4, §16.12);
# - run the same siplab phones against **Kamailio**, the SIP server of real
#   deployments: a class server if your instructor runs one, or a private one started
#   from this notebook.
#
# **Prerequisites.** `00_start_here` (the lab, traces, ladders) and `03_invite_ladder`
# (INVITE, CANCEL, transactions and dialogs).
#
# **Time to learn.** About 45 minutes. Running the whole notebook takes a few seconds
# and needs no network.

# %%
%matplotlib inline
import asyncio
import shutil
import subprocess
from pathlib import Path

import siplab.lab
from siplab.aio.audio import ToneSource
from siplab.aio.errors import CallFailed
from siplab.aio.useragent import UserAgent
from siplab.lab import Trace, text_ladder
from siplab.lab.kamailio import KamailioError, class_server, find_kamailio, start_kamailio
from siplab.sip.message import Request

CAPTURES = Path("captures")
CAPTURES.mkdir(exist_ok=True)

# %% [markdown]
# ## 1. One user, two phones
#
# Bob has a desk phone and a softphone on his laptop. Both register as
# `sip:bob@127.0.0.1`: the registrar keeps **two bindings** for one address of record
# (RFC 3261 §10.3 step 7: a REGISTER adds its Contact to the others, it does not
# replace them). `lab.user_agent("bob")` twice gives two phones with their own
# sockets; `user_agent=` sets the product name each puts in its `User-Agent` header.

# %%
lab = await siplab.lab.start(seed=8)
trace = Trace().attach(lab.server)
alice = await lab.user_agent("alice", trace=trace)
desk = await lab.user_agent("bob", trace=trace, user_agent="bob's desk phone")
laptop = await lab.user_agent("bob", trace=trace, user_agent="bob's laptop")

for binding in lab.server.core.location:
    print(f"{binding.aor:<20} -> {binding.uri}")

# %% [markdown]
# ## 2. Parallel forking (RFC 3261 §16.6, §16.7)
#
# Alice calls `bob`. The proxy's location lookup finds two targets, so it **forks**:
# it sends a copy of the INVITE to each, at once, each copy on its own client
# transaction (its own Via branch). The copies share Alice's Call-ID, From tag and
# CSeq: they are one call, and every phone that answers creates its own dialog with
# its own To tag.
#
# The proxy keeps a *response context* for the call (§16.7) and decides what goes
# back to Alice:
#
# - provisional responses (180 Ringing) go up at once, from every branch;
# - the **first 2xx** goes up at once, and the proxy **CANCELs every other branch**
#   that has not answered (§16.7 step 10); the cancelled phone answers the CANCEL
#   with 200 and its INVITE with **487 Request Terminated**, which stays at the proxy;
# - if no branch answers 2xx, the proxy waits for all of them and sends up the
#   *best* final response (§16.7 step 6).
#
# Both of Bob's phones ring; the laptop answers after 0.3 s:

# %%
call = await alice.call("bob", source=ToneSource(440, 0.2))
on_desk = await desk.next_invitation(timeout=5)
on_laptop = await laptop.next_invitation(timeout=5)
await on_desk.progress()  # 180 Ringing
await on_laptop.progress()
await asyncio.sleep(0.3)
await on_laptop.accept(source=ToneSource(660, 0.2))
await call.established(timeout=5)
print("the desk phone's call ended:", await on_desk.terminated(timeout=5))
print("same Call-ID on both phones:", on_desk.call_id == on_laptop.call_id == call.call_id)

# %% [markdown]
# The ladder, with each lifeline named and the registrations left out
# (`siplab.lab.flow` lists the messages; we keep those that are not REGISTER). Follow
# the two INVITEs leaving the server, the two 180s coming back (Alice hears ringing
# twice: one per branch, each with its own To tag, so each in its own colour), the
# laptop's 200, then the CANCEL the **server** sends to the desk. Alice never sent a
# CANCEL: forking is the proxy's business.

# %%
names = {
    f"{lab.udp.host}:{lab.udp.port}": "server",
    f"{desk.local.host}:{desk.local.port}": "bob (desk)",
    f"{laptop.local.host}:{laptop.local.port}": "bob (laptop)",
}
await asyncio.sleep(0.2)


def without_register(source: object) -> list:
    """The rows of ``source``'s ladder, less the REGISTER transactions."""
    return [row for row in siplab.lab.flow(source) if row.cseq.method != "REGISTER"]


siplab.lab.ladder(without_register(trace), names=names,
                  title="parallel forking: the laptop answers first")

# %% [markdown]
# Where did the CANCEL go, and what does it look like? A CANCEL names the INVITE it
# stops by copying its Request-URI, Call-ID, CSeq number and **top Via branch**
# (§9.1): here, the branch of the copy the server sent to the desk.

# %%
wire = trace.messages
forked = [m for m in wire if m.label == "INVITE" and m.src == lab.udp]
cancel = next(m for m in wire if m.label == "CANCEL")
print("the server sent the INVITE to:", [str(m.dst) for m in forked])
print("the CANCEL went to:           ", cancel.dst, "(the desk)")
print("branch of the INVITE to the desk:",
      next(m for m in forked if m.dst == cancel.dst).message.branch)
print("branch of the CANCEL:            ", cancel.message.branch)
print()
print(cancel.message)

# %% [markdown]
# ### Exercise 1: everybody says no
#
# Alice calls Bob again. This time the **desk** answers `486 Busy Here` and, a moment
# later, the **laptop** answers `603 Decline`. No 2xx ever comes, so the proxy waits
# for both and sends Alice the *best* of the two (§16.7 step 6: a 6xx if there is one,
# since "decline" means "do not try elsewhere"; otherwise the lowest class, 4xx before
# 5xx...). **Which status code does Alice get?** Put it in `alice_gets`.

# %% tags=["exercise"] id="exercise-best-response"
alice_gets = None  # a status code, such as 404

# %% [markdown]
# The check makes the call for real and compares.

# %% tags=["check", "raises-exception"] id="check-best-response"
assert alice_gets is not None, "replace None with a status code (an int)"
second = await alice.call("bob")
busy_desk = await desk.next_invitation(timeout=5)
busy_laptop = await laptop.next_invitation(timeout=5)
await busy_desk.reject(486)
await asyncio.sleep(0.1)
await busy_laptop.reject(603)
got = None
try:
    await second.established(timeout=5)
except CallFailed as failure:
    got = failure.status
assert alice_gets == got, f"Alice got {got}, not {alice_gets}: which one does §16.7 pick?"
print(f"Correct: Alice gets {got}. A 6xx beats any 4xx.")

# %% [markdown]
# ## 3. Record-Route and the route set (§12.1, §16.6 step 4, §16.12)
#
# After the 200, Alice and Bob's laptop know each other's address (the `Contact` of
# the INVITE and of the 200), so in-dialog requests (ACK, re-INVITE, BYE) could go
# straight from phone to phone. A proxy that wants to stay on the path, to count,
# bill or translate the call, adds a **Record-Route** header to the INVITE with its
# own URI and the `lr` ("loose routing") parameter. The callee copies it into its 200,
# and both phones store it as the dialog's **route set**:
#
# - the **callee** takes the Record-Route values in order (§12.1.1),
# - the **caller** takes them in reverse order (§12.1.2), so each list starts with
#   the proxy nearest to its owner.
#
# Every request in the dialog then goes to the first URI of the route set with a
# `Route` header listing it, while its Request-URI names the peer's Contact (the
# *remote target*). The proxy sees its own URI in the Route, removes it, and forwards
# the request to the Request-URI (§16.4, §16.12).
#
# Here is the INVITE as the laptop received it: the server's `Record-Route` on top,
# and two Vias (the server's and Alice's):

# %%
invite = on_laptop.request
print("\n".join(f"{name}: {value}" for name, value in invite.headers
                if name in ("Record-Route", "Via", "Contact")))

# %%
for who, session in (("Alice", call), ("the laptop", on_laptop)):
    dialog = session.dialog
    print(f"{who}'s dialog: remote target {dialog.remote_target}")
    print(f"{' ' * len(who)}          route set   {[str(a.uri) for a in dialog.route_set]}")

# %% [markdown]
# Alice hangs up. Her BYE's Request-URI is the laptop's Contact, but it goes to the
# server, because of the `Route` header:

# %%
await call.bye(timeout=5)
bye = next(m for m in trace.messages if m.label == "BYE")
print("Alice's BYE went to:", bye.dst)
print("  Request-URI:", bye.message.uri)
print("  Route:      ", bye.message.headers.get("Route"))
forwarded = next(m for m in trace.messages if m.label == "BYE" and m.src == lab.udp)
print("the server forwarded it to:", forwarded.dst)
print("  Route:      ", forwarded.message.headers.get("Route") or "(removed: it named the server)")

# %% [markdown]
# ### Exercise 2: one proxy, two Record-Routes?
#
# Carol's phone is a browser-like phone: it talks to the server over **WebSocket**
# (`lab.user_agent("carol", transport="ws")`), while Alice uses UDP. When Alice calls
# Carol, **how many entries will Alice's route set have?** Put the number in
# `route_set_size`. (The check makes the call and tells you why if you are wrong.)

# %% tags=["exercise"] id="exercise-double-record-route"
route_set_size = None  # how many entries in Alice's route set

# %% tags=["check", "raises-exception"] id="check-double-record-route"
assert route_set_size is not None, "replace None with a number"
carol = await lab.user_agent("carol", transport="ws")
to_carol = await alice.call("carol")
at_carol = await carol.next_invitation(timeout=5)
await at_carol.accept()
await to_carol.established(timeout=5)
route_set = [str(a.uri) for a in to_carol.dialog.route_set]
await to_carol.bye(timeout=5)
assert route_set_size == len(route_set), (
    f"Alice's route set is {route_set}: the server recorded itself once per side, one "
    "URI that UDP phones reach and one for the WebSocket side (RFC 5658's double "
    "Record-Route), so that each phone's route set starts with an address it can use")
print(f"Correct: {len(route_set)} entries, {route_set}.")

# %% [markdown]
# ## 4. The same phones against Kamailio
#
# Everything so far ran against siplab's `LabServer`. Real deployments run a server
# such as [Kamailio](https://www.kamailio.org), and a class may share one
# (`docker/INSTRUCTORS.md`). The course's Kamailio configuration,
# `docker/kamailio/kamailio.cfg`, is a registrar and a record-routing stateful proxy
# like the LabServer, with one difference you will see at once: it **challenges the
# INVITE** too (`407 Proxy Authentication Required`), not only the REGISTER.
#
# `siplab.lab.kamailio` finds a server for this notebook:
#
# 1. if your instructor set `SIPLAB_CLASS_SERVER` (and `SIPLAB_CLASS_PASSWORD`...),
#    `class_server()` returns that class Kamailio; your users get your login name as a
#    prefix (`sip:you-alice@kamailio`) so that they do not collide with the class's;
# 2. otherwise, if Kamailio is installed here, `start_kamailio()` starts a private
#    one on free 127.0.0.1 ports with the course configuration;
# 3. otherwise this section is skipped (install the Debian packages `kamailio` and
#    `kamailio-websocket-modules` to run it).

# %%
server = None
try:
    server = class_server() or (start_kamailio() if find_kamailio() else None)
except KamailioError as error:
    print("no Kamailio:", error)
if server is None:
    print("Kamailio is not installed and no class server is configured: the cells below "
          "are skipped. (apt-get install kamailio kamailio-websocket-modules)")
else:
    print("using", server.label)
    print("Alice's address:", server.aor("alice"), " transport:", server.transport)

# %% [markdown]
# The phones are the same `UserAgent` class as before; only the server's URL, the
# addresses and the password change. Bob registers twice again, and Alice calls him:

# %%
kamailio_trace = Trace()
phones: list[UserAgent] = []


async def kamailio_phone(name: str, product: str) -> UserAgent:
    """A started, registered phone of user ``name`` at the Kamailio ``server``."""
    phone = UserAgent(server.aor(name), server.password, transport=server.transport,
                      trace=kamailio_trace, user_agent=product)
    await phone.start()
    phones.append(phone)
    await phone.register(timeout=10)
    return phone


if server is not None:
    k_alice = await kamailio_phone("alice", "alice's softphone")
    k_desk = await kamailio_phone("bob", "bob's desk phone")
    k_laptop = await kamailio_phone("bob", "bob's laptop")
    k_call = await k_alice.call(server.user("bob"), source=ToneSource(440, 0.2))
    k_on_desk = await k_desk.next_invitation(timeout=5)
    k_on_laptop = await k_laptop.next_invitation(timeout=5)
    await k_on_desk.progress()
    await k_on_laptop.progress()
    await asyncio.sleep(0.3)
    await k_on_laptop.accept(source=ToneSource(660, 0.2))
    await k_call.established(timeout=5)
    print("desk:", await k_on_desk.terminated(timeout=5))
    print("Alice's route set through Kamailio:", [str(a.uri) for a in k_call.dialog.route_set])
    await asyncio.sleep(0.3)
    await k_call.bye(timeout=5)
    for phone in phones:
        await phone.stop()

# %% [markdown]
# The same story as with the LabServer: two INVITEs, a CANCEL to the phone that lost,
# a Record-Route (Kamailio adds `ftag`, Alice's From tag, to its URI), ACK and BYE
# through the proxy. And two differences: the 407 challenge to Alice's first INVITE
# (her phone sends the ACK for it and a second INVITE with `Proxy-Authorization`), and
# Kamailio's own words in its `100 trying -- your call is important to us`.

# %%
if server is not None:
    k_names = {f"{p.local.host}:{p.local.port}": name for p, name in
               zip(phones, ("alice", "bob (desk)", "bob (laptop)"), strict=True)}
    print(text_ladder(without_register(kamailio_trace), names=k_names))

# %% [markdown]
# A private Kamailio logs one line per request, response and routing decision
# (`LOG_LEVEL` 2 in `kamailio.cfg`), each starting with the method, CSeq number and
# Call-ID. Here is what it decided about the call:

# %%
if server is not None and hasattr(server, "log_lines"):
    for line in server.log_lines(k_call.call_id)[:14]:
        print(line.split("<script>: ", 1)[-1])

# %% [markdown]
# ## 5. See it in Wireshark
#
# Both traces as pcaps. The LabServer and the private Kamailio listen on ports the
# system picked, so tell tshark to decode them as SIP with `-d` (Wireshark: *Analyze
# → Decode As…*). *Telephony → VoIP Calls* shows each call; select the forked one and
# press *Flow Sequence*.

# %%
pcaps = [(trace.to_pcap(CAPTURES / "08_forking.pcap"), lab.udp.port)]
if server is not None and kamailio_trace.messages:
    port = int(server.transport.rsplit(":", 1)[1].rstrip("/"))
    pcaps.append((kamailio_trace.to_pcap(CAPTURES / "08_kamailio.pcap"), port))
for pcap, port in pcaps:
    command = ["tshark", "-r", str(pcap), "-Y", "sip.Method == INVITE or sip.Method == CANCEL",
               "-d", f"udp.port=={port},sip"]
    print("$", " ".join(command))
    if shutil.which("tshark"):
        print(subprocess.run(command, capture_output=True, text=True, timeout=60).stdout)
    else:
        print("(tshark is not installed here: apt install tshark, or open it in Wireshark)")

# %%
await lab.stop()
if server is not None and hasattr(server, "stop"):
    server.stop()

# %% [markdown]
# ## Recap
#
# - A user may register from several devices; the registrar keeps every binding, and
#   a proxy that finds several **forks** the INVITE to all of them in parallel, one
#   client transaction (one Via branch) per target.
# - The first 2xx goes to the caller at once and the proxy **CANCELs** the other
#   branches (487 Request Terminated); without a 2xx, the proxy waits for every branch
#   and sends the best final response, a 6xx before anything else.
# - A proxy stays in a dialog's path with **Record-Route**; both ends store it as the
#   **route set** (the caller in reverse), and send ACK, re-INVITE and BYE to its first
#   URI with a `Route` header, the Request-URI naming the peer's Contact. A proxy
#   bridging two transports records itself twice.
# - The same siplab phones run against Kamailio: `class_server()` for a class's
#   server, `start_kamailio()` for a private one. Kamailio challenges INVITEs (407),
#   forks and record-routes the same way.
#
# ## What's next
#
# That is the end of the course's path. To go further: put the browser phone
# (`06_webrtc_and_the_browser`) and a notebook phone on the same Kamailio; read
# `docker/kamailio/kamailio.cfg`, which explains each of its routes with the RFC
# sections it implements; or replay `data/captures/call_forked.pcap` and
# `data/captures/call_kamailio.pcap` against your own phones (`07_pcap_replay_exercises`).
