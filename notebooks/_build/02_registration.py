"""Source of notebooks/02_registration.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; `%matplotlib inline` and top-level `await` are IPython's (this
# file is a notebook's source, not a module to import).
# ruff: noqa: B015, B018, F704, I002, PLE1142, RUF003

# %% [markdown]
# # 02 · Registration: REGISTER, the digest challenge, and the RFC 3665 flows
#
# **Goals.** By the end of this notebook you can
#
# - explain what a registrar keeps (bindings of an address of record to Contacts) and
#   read every header of a REGISTER and of its 200 OK;
# - follow the digest challenge: read the `401`'s `WWW-Authenticate`, compute the
#   `response` of the `Authorization` header **by hand** with `hashlib`, and register a
#   phone with nothing but a UDP socket;
# - predict what the registrar grants (`Expires`, `423 Interval Too Brief`) and when a
#   phone refreshes, and watch a binding expire;
# - query the bindings, unregister one phone or all of them, and recognise a wrong
#   password;
# - reproduce and draw the registration flows of RFC 3665 §2.
#
# **Prerequisites.** `00_start_here` (the lab) and `01_sip_messages` (headers, tags,
# Call-ID, CSeq, Via).
#
# **Time to learn.** About 45 minutes. The notebook runs in a few seconds; the twenty minutes of
# registrations near the end pass on a simulated clock.

# %%
%matplotlib inline
import asyncio
import hashlib
import shutil
import socket
import subprocess
from pathlib import Path

from IPython.display import Markdown, display

import siplab.lab
from siplab.aio import RegistrationError, TraceRecord, UserAgent
from siplab.ids import IdSource
from siplab.lab import DropAll, SimNetwork, Trace, text_ladder
from siplab.sip import (
    BindingRemoved,
    Peer,
    Response,
    ServerConfig,
    ServerCore,
    SipParseError,
    UserAgentConfig,
    UserAgentCore,
    add_authorization,
    build_request,
    compute_response,
    parse_challenge,
    parse_credentials,
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
# ## 1. What registering means (RFC 3261 §10)
#
# An **address of record** (AOR) such as `sip:carol@127.0.0.1` names a person. A call
# for her must reach a *device*: the phone on her desk, her laptop. A phone tells the
# **registrar** of its domain "requests for this AOR reach me at this **Contact**, for
# the next N seconds"; the registrar keeps that **binding** in its *location service*,
# and the proxy looks it up when a call comes in. That is a `REGISTER`:
#
# | header | in a REGISTER |
# |---|---|
# | Request-URI | the registrar's domain: `sip:127.0.0.1` (no user) |
# | To | the AOR being registered |
# | From | who is registering it (the same AOR, unless a secretary registers for the boss) |
# | Contact | the binding: where this phone can be reached; absent in a query |
# | Expires | how long the binding should last, in seconds (0: remove it) |
# | Call-ID, CSeq | one Call-ID for all the REGISTERs of a phone, CSeq one higher each time, so the registrar can order them (§10.2.4) |
#
# Let's start the lab and register Carol's phone, watching every message.

# %%
lab = await siplab.lab.start(seed=2)
trace = Trace().attach(lab.server)
SERVER = lab.udp
names = {f"{SERVER.host}:{SERVER.port}": "registrar"}

carol = await lab.user_agent("carol", register=False, trace=trace)
await carol.register(timeout=5)
registerer = carol.registerer()
print(registerer.state, "- granted", registerer.expires, "s; bindings:",
      [str(c) for c in registerer.contacts])
print(text_ladder(trace, names=names, cseq=True))

# %% [markdown]
# Two round trips: the first `REGISTER` (CSeq 1) is refused with `401 Unauthorized`;
# the second (CSeq 2, same Call-ID, new branch: a new transaction) carries an
# `Authorization` header and gets `200 OK`. Here are the four messages:

# %%
first, unauthorized, second, ok = (w.message for w in trace.messages[:4])
for message in (first, unauthorized, second, ok):
    print(message)

# %% [markdown]
# ## 2. The digest challenge (RFC 3261 §22, RFC 7616, RFC 8760)
#
# The registrar must know the REGISTER comes from Carol, but her password must never
# cross the network. **Digest** authentication solves it with a challenge: the `401`
# carries a `WWW-Authenticate` header with a **realm** (which password database), a
# fresh random **nonce**, an **opaque** value to echo, the hash **algorithm** and the
# **qop** ("quality of protection": `auth`). The phone answers with a hash that mixes
# the password with the nonce and the request:
#
# ```text
# HA1      = H(username ":" realm ":" password)
# HA2      = H(method ":" digest-uri)
# response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)
# ```
#
# `nc` (nonce count, 8 hex digits) numbers the uses of one nonce and `cnonce` is the
# client's own random value. The registrar, which knows the password too, computes the
# same hash and compares. Let's read both headers:

# %%
challenge = parse_challenge(unauthorized.headers.get("WWW-Authenticate"))
credentials = parse_credentials(second.headers.get("Authorization"))
print(challenge)
print(credentials)

# %% [markdown]
# Now compute Carol's `response` by hand, with MD5 from `hashlib` (the lab's account
# passwords are hidden in prints, but a notebook may read them):

# %%
def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


password = lab.accounts["carol"].password
ha1 = md5(f"{credentials.username}:{challenge.realm}:{password}")
ha2 = md5(f"{second.method}:{credentials.uri}")
by_hand = md5(f"{ha1}:{challenge.nonce}:{credentials.nc:08x}:{credentials.cnonce}:"
              f"{credentials.qop}:{ha2}")

table([
    {"value": "HA1", "computed from": "username:realm:password", "result": ha1},
    {"value": "HA2", "computed from": f"{second.method}:{credentials.uri}", "result": ha2},
    {"value": "response (by hand)", "computed from": "HA1:nonce:nc:cnonce:qop:HA2",
     "result": by_hand},
    {"value": "response (Carol's phone)", "computed from": "the Authorization header",
     "result": credentials.response},
])

# %% [markdown]
# Equal. Notice what the hash covers: the nonce (so an old answer is worthless once the
# registrar stops accepting that nonce), the method and URI (so it cannot be pasted
# onto another request), and `nc` (so the same answer cannot be *replayed*: the
# registrar remembers the highest `nc` it saw for each nonce). Ask the registrar's
# digest checker about Carol's REGISTER now, a second time:

# %%
now = asyncio.get_running_loop().time()  # the lab server's clock
lab.server.core.digest.check_request(second, now, password_for={"carol": password})

# %% [markdown]
# Refused as a replay. On the wire, the registrar answers a replayed (or too old)
# answer with a fresh `401` challenge: whoever copied the REGISTER cannot answer it
# without the password. A *wrong* response gets `403 Forbidden` (section 5).
#
# ### Registering with a bare socket
#
# Everything the phone did, we can do with a UDP socket, `build_request` and
# `compute_response` (the function form of the hash above). Dave has no phone yet; his
# binding will point at our socket's address.

# %%
class Wire:
    """A UDP socket on 127.0.0.1 that sends to the lab server and waits for one answer."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    async def send(self, message, timeout: float = 1.0) -> Response | None:
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self.sock, message.to_bytes(), (SERVER.host, SERVER.port))
        try:
            async with asyncio.timeout(timeout):
                return parse_message(await loop.sock_recv(self.sock, 65535))
        except (TimeoutError, SipParseError):
            return None

    def close(self) -> None:
        self.sock.close()


wire = Wire()
dave = lab.accounts["dave"]
ids = IdSource(seed=22)
request = build_request(
    "REGISTER", f"sip:{SERVER.host}",
    from_=f"<{dave.uri}>", to=f"<{dave.uri}>",
    via_host="127.0.0.1", via_port=wire.port, ids=ids,
    contact=f"<sip:dave@127.0.0.1:{wire.port}>", headers=[("Expires", "120")],
)
answer = await wire.send(request)
print(answer.start_line)
dave_challenge = parse_challenge(answer.headers.get("WWW-Authenticate"))

# %% [markdown]
# Now the second REGISTER: a copy with CSeq 2 and a new branch (a new transaction), and
# the `Authorization` header written from our own hash:

# %%
cnonce, nc = "0a4f113b", 1
digest_response = compute_response(
    algorithm=dave_challenge.algorithm, username=dave.username, realm=dave_challenge.realm,
    password=dave.password, method="REGISTER", uri=request.uri_text,
    nonce=dave_challenge.nonce, qop="auth", nc=nc, cnonce=cnonce,
)
retry = build_request(
    "REGISTER", f"sip:{SERVER.host}",
    from_=request.from_, to=f"<{dave.uri}>", call_id=request.call_id, cseq=2,
    via_host="127.0.0.1", via_port=wire.port, ids=ids,
    contact=f"<sip:dave@127.0.0.1:{wire.port}>",
    headers=[("Expires", "120"), ("Authorization", (
        f'Digest username="{dave.username}", realm="{dave_challenge.realm}", '
        f'nonce="{dave_challenge.nonce}", uri="{request.uri_text}", '
        f'response="{digest_response}", algorithm=MD5, cnonce="{cnonce}", '
        f'opaque="{dave_challenge.opaque}", qop=auth, nc={nc:08x}'))],
)
answer = await wire.send(retry)
print(answer)

# %% [markdown]
# Registered: the 200 lists Dave's binding with the time left. The registrar has it:

# %%
print([f"{b.aor} -> {b.uri}" for b in lab.server.core.location if b.aor == dave.uri])

# %% [markdown]
# Writing the header by hand is error-prone; `add_authorization(request, response, ...)`
# builds the retried request (CSeq + 1, new branch, the header) from any 401 or 407.
# We use it to remove Dave's binding again: a REGISTER with `Expires: 0`.

# %%
goodbye = build_request(
    "REGISTER", f"sip:{SERVER.host}", from_=request.from_, to=f"<{dave.uri}>",
    call_id=request.call_id, cseq=3, via_host="127.0.0.1", via_port=wire.port, ids=ids,
    contact=f"<sip:dave@127.0.0.1:{wire.port}>", headers=[("Expires", "0")],
)
answer = await wire.send(goodbye)
answer = await wire.send(add_authorization(goodbye, answer, username=dave.username,
                                           password=dave.password, ids=ids))
wire.close()
print(answer.start_line, "- Dave's bindings left:",
      [b.uri for b in lab.server.core.location if b.aor == dave.uri])

# %% [markdown]
# ## Exercise: a SHA-256 digest
#
# MD5 is broken as a hash; RFC 8760 brought SHA-256 to SIP digest (same formulas,
# another `H`). A registrar sent Bob this challenge:
#
# ```text
# WWW-Authenticate: Digest realm="biloxi.example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
#     algorithm=SHA-256, qop="auth"
# ```
#
# Bob's password is `zanzibar`. His phone answers for `REGISTER sip:biloxi.example.com`
# with `nc=00000001` and `cnonce="0a4f113b"`. Compute the `response` **with
# `hashlib.sha256`** (not `compute_response`), as a hex string, in `sha256_response`.

# %% tags=["exercise"] id="exercise-sha256-digest"
sha256_response = None  # the hex digest, a str

# %% tags=["check", "raises-exception"] id="check-sha256-digest"
assert sha256_response is not None, "replace None with the response you computed"
expected = compute_response(
    algorithm="SHA-256", username="bob", realm="biloxi.example.com", password="zanzibar",
    method="REGISTER", uri="sip:biloxi.example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
    qop="auth", nc=1, cnonce="0a4f113b",
)
assert sha256_response != compute_response(
    algorithm="MD5", username="bob", realm="biloxi.example.com", password="zanzibar",
    method="REGISTER", uri="sip:biloxi.example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
    qop="auth", nc=1, cnonce="0a4f113b",
), "that is the MD5 answer: every H, HA1 and HA2 included, is SHA-256 now"
assert len(sha256_response) == 64, "a SHA-256 hex digest has 64 characters"
assert sha256_response == expected, "not the right hash: check the order of the fields and the colons"
print("Correct: response =", sha256_response)

# %% [markdown]
# ## 3. Expiry and refresh
#
# A binding does not last forever: if the phone crashes, its binding must go away by
# itself. The phone asks for a lifetime with `Expires` (siplab asks 600 s), the
# registrar may shorten it, and the 200 OK says what was granted (the `expires`
# parameter of each Contact). Before that runs out the phone sends the same REGISTER
# again (same Call-ID, next CSeq): siplab **refreshes at 90 %** of the granted time.

# %%
registration = carol.core.registration
print("granted", registration.expires_granted, "s; next refresh in",
      round(registration.refresh_at - asyncio.get_running_loop().time()), "s")

# %% [markdown]
# The registrar has limits too. Asking for more than its maximum just gets the maximum.
# Asking for *less* than its minimum (a phone that refreshes every 5 s would flood it)
# gets `423 Interval Too Brief` with a `Min-Expires` header, and the phone asks again
# with at least that much (§10.2.8, §10.3 step 7).

# %% [markdown]
# ## Exercise: what does the registrar grant?
#
# Predict how many seconds the lab's registrar grants a phone that asks for 30 s, and
# one that asks for 7200 s. You may experiment: make a phone with
# `phone = await lab.user_agent("dave", register=False, trace=trace)`, then
# `await phone.register(expires=30)`, read `phone.registerer().expires`, and look at the
# ladder (`text_ladder(trace, names=names)`). Put the two numbers in `granted`.

# %% tags=["exercise"] id="exercise-granted-expiry"
granted = {30: None, 7200: None}  # asked for -> granted, in seconds

# %% tags=["check", "raises-exception"] id="check-granted-expiry"
assert None not in granted.values(), "fill in both numbers"
for asked, predicted in granted.items():
    tester = await lab.user_agent("dave", register=False)
    try:
        await tester.register(expires=asked, timeout=5)
        actual = tester.registerer().expires
    finally:
        await tester.stop()
    assert predicted == actual, (
        f"asking for {asked} s: you said {predicted}, the registrar granted {actual} "
        "(try it and read the ladder)")
print("Correct:", ", ".join(f"{a} s asked -> {g} s granted" for a, g in granted.items()))

# %% [markdown]
# ### Twenty minutes on a simulated clock
#
# Refreshes happen minutes apart: too slow to watch live. siplab's protocol code does
# not read a clock, so the very same registrar (`ServerCore`) and phone
# (`UserAgentCore`) run on a `SimNetwork`, whose clock jumps ahead when nothing
# happens. Here is a small lab of our own: the registrar of `biloxi.example.com` at
# 10.0.0.100 and phones at 10.0.0.x, 10 ms apart (RFC 3665's addresses).

# %%
DOMAIN = "biloxi.example.com"
REGISTRAR = Peer("10.0.0.100", 5060)
SIM_NAMES = {"10.0.0.100:5060": "registrar", "10.0.0.2:5060": "bob (desk)",
             "10.0.0.4:5060": "bob (mobile)", "10.0.0.5:5060": "bob (typo)"}


def sim_lab(seed: int = 1) -> tuple[SimNetwork, ServerCore]:
    """A SimNetwork with the registrar of biloxi.example.com (Bob's password: builder)."""
    net = SimNetwork(seed=seed, delay=0.01)
    config = ServerConfig(listen=(REGISTRAR,), domains=(DOMAIN,), users={"bob": "builder"})
    server = ServerCore(config, ids=IdSource(f"server-{seed}"))
    net.add(server, REGISTRAR.host, REGISTRAR.port, name="registrar")
    return net, server


def sim_phone(net: SimNetwork, host: str, user: str, password: str, **options) -> UserAgentCore:
    """A phone (the sans-I/O user agent core) at host:5060 whose outbound proxy is the registrar."""
    config = UserAgentConfig(aor=f"sip:{user}@{DOMAIN}", password=password,
                             local=Peer(host, 5060), outbound=REGISTRAR, **options)
    phone = UserAgentCore(config, ids=IdSource(f"{user}@{host}"))
    net.add(phone, host, 5060, name=SIM_NAMES.get(f"{host}:5060", host))
    return phone


net, server = sim_lab()
desk = sim_phone(net, "10.0.0.2", "bob", "builder", register_expires=300)
desk.register(net.now)
net.run_until(1000)  # 1000 simulated seconds
print(text_ladder(net, names=SIM_NAMES, cseq=True))

# %% [markdown]
# Granted 300 s, the desk phone refreshes every 270 s (90 %). A refresh is the same
# REGISTER again, same Call-ID and the next CSeq, and it already carries an answer to
# the last challenge, with the next `nc` (§22.3): no 401 round trip. At 540 s that
# nonce is too old (this registrar accepts a nonce for 300 s), so the registrar
# challenges again with `stale=TRUE`, meaning "your password was right, only the nonce
# is old", and the phone answers the new nonce.
#
# The phone's side is a state machine, written as a table; siplab draws it from the
# very table the code runs, with the desk phone's own path in orange:

# %%
siplab.lab.diagram("registration", highlight=desk.registration)

# %% [markdown]
# Now unplug the phone (its link loses everything) and let five more minutes pass. The
# registrar removes the binding when its time is up, and says so with a
# `BindingRemoved` event; the phone notices that its refresh gets no answer:

# %%
net.link(Peer("10.0.0.2", 5060), REGISTRAR, loss=DropAll())
before = [f"{b.uri} until t={b.expires_at:g} s" for b in server.location]
net.run_until(net.now + 300)
print("bindings before:", before)
print("bindings after: ", list(server.location))
for event in iter(server.next_event, None):
    if isinstance(event, BindingRemoved):
        print(f"BindingRemoved: {event.binding.uri} {event.reason} at t={event.binding.expires_at:g} s")
print("the desk phone's registration:", desk.registration.state)

attempts: dict[int, list[float]] = {}
for record in net.records:
    if record.dropped:
        attempts.setdefault(parse_message(record.data).cseq.number, []).append(record.time_sent)
table([{"CSeq": cseq, "first sent (s)": f"{times[0]:.2f}", "copies": len(times),
        "copies sent after (s)": ", ".join(f"{t - times[0]:g}" for t in times[1:])}
       for cseq, times in attempts.items()])

# %% [markdown]
# Each try is one REGISTER that Timer E sends again after 0.5, 1.5, 3.5, 7.5 s, then every
# 4 s (the interval doubles from T1 = 0.5 s up to T2 = 4 s) until Timer F gives up after
# 32 s (notebook 03 is about these timers). The phone then waits 1, 2, 4, 8... s (at
# most a minute) and tries again with the next CSeq: it is now *Retrying*, and will be
# registered again as soon as the registrar answers.

# %% [markdown]
# ## 4. Several phones, query and unregister
#
# An AOR may have several bindings: Bob's desk phone and his mobile. Each REGISTER's
# 200 OK lists **all** of them. A REGISTER *without* Contact changes nothing and just
# returns the list (a query, §10.2.3). `Expires: 0` on a Contact removes that binding;
# `Contact: *` with `Expires: 0` removes all of the AOR's (§10.2.2). Live:

# %%
trace.clear()
bob_desk = await lab.user_agent("bob", trace=trace)
bob_mobile = await lab.user_agent("bob", trace=trace)
print("mobile's 200 lists:", [str(c.uri) for c in bob_mobile.registerer().contacts])
print("desk's query:      ", [str(c.uri) for c in await bob_desk.registerer().query(timeout=5)])
await bob_mobile.registerer().unregister(timeout=5)
print("after the mobile unregistered:", [str(c.uri) for c in await bob_desk.registerer().query()])
await bob_desk.registerer().unregister(all_contacts=True, timeout=5)
print("after Contact: *:", [b.uri for b in lab.server.core.location if "bob" in b.aor])

# %% [markdown]
# The REGISTERs of that story, with the headers that make the difference:

# %%
table([
    {"from": "desk" if w.src == bob_desk.local else "mobile", "CSeq": str(w.message.cseq),
     "Contact": w.message.headers.get("Contact") or "(none: a query)",
     "Expires": w.message.headers.get("Expires") or ""}
    for w in trace.messages
    if w.label == "REGISTER" and "Authorization" in w.message.headers
])

# %% [markdown]
# ## 5. A wrong password
#
# The registrar cannot tell a wrong password from a typo'd user name, and must not say
# which (that would tell an attacker which accounts exist): it refuses both the same
# way. siplab's registrar answers a wrong digest with `403 Forbidden`; the phone
# reports a `RegistrationError` with the status:

# %%
trace.clear()
typo = UserAgent(lab.accounts["alice"].uri, "not-her-password", transport=lab.url("udp"),
                 trace=trace)
await typo.start()
try:
    await typo.register(timeout=5)
except RegistrationError as error:
    print("RegistrationError:", error, "- status", error.status)
finally:
    await typo.stop()
print(text_ladder(trace, names=names))

# %% [markdown]
# ## 6. The RFC 3665 §2 flows, reproduced
#
# [RFC 3665](https://www.rfc-editor.org/rfc/rfc3665) draws SIP's basic flows message by
# message, so implementers can compare. Its section 2 is registration: Bob registers
# with the registrar of biloxi.example.com. Here they are, one after the other, on the
# simulated lab: the real registrar and phones, seeded, so the same tags and branches
# come out on every run.

# %%
net, server = sim_lab(seed=3665)
desk = sim_phone(net, "10.0.0.2", "bob", "builder")
mobile = sim_phone(net, "10.0.0.4", "bob", "builder")
typo = sim_phone(net, "10.0.0.5", "bob", "bulider")

FLOWS = [
    ("§2.1 Successful new registration", lambda: desk.register(net.now)),
    ("§2.2 Update of contact list", lambda: mobile.register(net.now)),
    ("§2.3 Request for current contact list", lambda: desk.query_registrations(net.now)),
    ("§2.4 Cancellation of registration", lambda: desk.unregister(net.now, all_contacts=True)),
    ("§2.5 Unsuccessful registration", lambda: typo.register(net.now)),
]
flows = {}
for title, start in FLOWS:
    first_record = len(net.records)
    start()
    net.run_until(net.now + 1)
    flows[title] = net.records[first_record:]

# %% [markdown]
# Each flow's final REGISTER and its answer, with the bindings the answer lists:

# %%
rows = []
for title, records in flows.items():
    last_request = parse_message(next(r.data for r in reversed(records) if r.label == "REGISTER"))
    final = parse_message(records[-1].data)
    rows.append({
        "flow": title,
        "ladder": " → ".join(r.label for r in records),
        "Contact sent": last_request.headers.get("Contact") or "(none)",
        "Expires": last_request.headers.get("Expires") or "",
        "answer lists": ", ".join(str(c.uri) for c in final.contact) or "(nothing)",
    })
table(rows)

# %% [markdown]
# And drawn, flow by flow, as RFC 3665 draws them:

# %%
for title, records in flows.items():
    display(siplab.lab.ladder(records, names=SIM_NAMES, title=f"RFC 3665 {title}", cseq=True))

# %% [markdown]
# Where siplab differs from the RFC's pictures, on purpose:
#
# - **each flow gets its own 401**, the query and the cancellation too (RFC 3665 shows
#   them without one): a phone answers a challenge only once it has one, and only its
#   refreshes reuse the last nonce (section 3);
# - **a wrong password gets `403 Forbidden`**, where §2.5 shows the registrar
#   challenging again with another 401. Both are allowed; a 403 ends it at once.
#
# These flows, and each of them again under packet loss, are checked by the test suite
# (`tests/sip/test_flows_rfc3665.py`).

# %% [markdown]
# ## 7. See it in Wireshark
#
# Two captures: the live lab's trace (the query, the unregistrations and the wrong
# password), and the RFC 3665 flows from the simulated network, written through a
# `Trace` (the simulated times start at 1 700 000 000 s, in November 2023).

# %%
CAPTURES = Path("captures")
CAPTURES.mkdir(exist_ok=True)
live_pcap = trace.to_pcap(CAPTURES / "02_registration.pcap")

sim_trace = Trace()
for record in net.records:
    sim_trace(TraceRecord(1_700_000_000 + record.time_sent, "out", "udp", record.src,
                          record.dst, record.data))
rfc_pcap = sim_trace.to_pcap(CAPTURES / "02_rfc3665_registration.pcap")
print("wrote", live_pcap.resolve(), "and", rfc_pcap.resolve(), sep="\n")

# %% [markdown]
# In Wireshark, filter `sip.CSeq.method == "REGISTER"` and unfold a REGISTER's
# *Authorization* header: Wireshark splits it into `sip.auth.*` fields. *Telephony →
# SIP Statistics* counts requests and responses. With tshark, the digest fields of the
# RFC 3665 capture (port 5060, so no `-d` is needed):

# %%
fields = ["frame.number", "sip.CSeq", "sip.Status-Code", "sip.Contact", "sip.Expires",
          "sip.auth.nonce", "sip.auth.digest.response"]
command = ["tshark", "-r", str(rfc_pcap), "-Y", "sip", "-T", "fields", "-E", "header=y",
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
# - A REGISTER binds an address of record (To) to a Contact for `Expires` seconds; the
#   registrar's 200 OK lists every binding of the AOR with the time each has left.
# - Digest: the `401` brings realm, nonce, opaque, algorithm and qop; the answer is
#   `H(HA1:nonce:nc:cnonce:qop:HA2)` with `HA1 = H(user:realm:password)` and
#   `HA2 = H(method:uri)`. The password never travels; the nonce and `nc` make a copied
#   answer useless.
# - The retried REGISTER is a new transaction: same Call-ID, CSeq + 1, a new branch.
# - The registrar may shorten the lifetime, refuse a too short one with `423` and
#   `Min-Expires`; the phone refreshes before the end (at 90 % in siplab), and a phone
#   that stops refreshing loses its binding when the time is up.
# - No Contact: a query. `Expires: 0`: remove this binding; `Contact: *`: remove all.
#   A wrong password: `403 Forbidden` from siplab's registrar.
#
# ## What's next
#
# `03_invite_ladder`: now that the phones are registered, Alice calls Bob. INVITE,
# 100 Trying, 180 Ringing, 200 OK, ACK, BYE, what each one is for, and what happens
# when Bob is busy, does not answer, or the network loses a message.
