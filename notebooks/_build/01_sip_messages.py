"""Source of notebooks/01_sip_messages.ipynb: edit this file, then run
``python notebooks/_build/build.py`` (see that script for the format)."""

# A notebook shows the value of a cell's last expression, so bare expressions are
# on purpose here; `%matplotlib inline` and top-level `await` are IPython's (this
# file is a notebook's source, not a module to import).
# ruff: noqa: B015, B018, F704, I002, PLE1142, RUF003

# %% [markdown]
# # 01 · SIP messages: requests, responses, and the headers that matter
#
# **Goals.** By the end of this notebook you can
#
# - name the parts of a SIP request and of a response, and read any SIP message;
# - parse one with `parse_message` and find its fields through `headers` and the
#   typed accessors, whatever case or compact form the sender used;
# - say what **Via**, the **From and To tags**, **Call-ID**, **CSeq**,
#   **Max-Forwards**, **Contact**, **Record-Route** and **Route** are for, and check
#   each of them on the messages of a real call through the lab's proxy;
# - build correct requests and responses with `build_request` and `build_response`;
# - read the error a broken message gets, from the parser and from the lab server,
#   and fix the message.
#
# **Prerequisites.** `00_start_here` (the lab, phones, ladders).
#
# **Time to learn.** About 45 minutes. The notebook runs in a few seconds.

# %%
%matplotlib inline
import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

from IPython.display import Markdown, display

import siplab.lab
from siplab.ids import IdSource
from siplab.lab import Trace, text_ladder
from siplab.sip import (
    Response,
    SipParseError,
    build_cancel,
    build_request,
    build_response,
    canonical_name,
    mark_received,
    parse_address,
    parse_message,
    response_destination,
)


def crlf(text: str) -> bytes:
    """SIP lines end with CRLF: turn text written with plain newlines into wire bytes."""
    return text.replace("\n", "\r\n").encode("utf-8")


def table(rows: list[dict[str, object]]) -> Markdown:
    """Show a list of dicts as a table (one row per dict, the keys as columns)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (str(row[c]).replace("|", "\\|") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return Markdown("\n".join(lines))

# %% [markdown]
# ## 1. Anatomy of a message (RFC 3261 §7)
#
# SIP messages are text, built like HTTP/1.1 messages. A **request** and a
# **response** differ only in their first line:
#
# ```text
# INVITE sip:bob@biloxi.example.com SIP/2.0          <- request line: method, Request-URI, version
# Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
# To: Bob <sip:bob@biloxi.example.com>               <- headers, "Name: value", one per line
# ...
# Content-Length: 142
#                                                    <- an empty line ends the headers
# v=0                                                <- the body (here SDP): Content-Length bytes
# ...
#
# SIP/2.0 180 Ringing                                <- status line: version, status code, reason
# Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
# ...
# ```
#
# The **method** says what the request asks (INVITE: start a call; REGISTER, BYE,
# ACK, CANCEL, OPTIONS, MESSAGE...). The **Request-URI** says where it is going. A
# response's **status code** says how it went, by its first digit: `1xx` provisional
# (still working on it), `2xx` success, `3xx` redirection, `4xx` your request was
# wrong, `5xx` the server failed, `6xx` nobody anywhere will take it. The reason
# phrase is for humans only.
#
# Here is the INVITE of RFC 3261 §24.2 with its SDP body, and the 180 Ringing Bob's
# phone answers. Lines end with CRLF on the wire, so `crlf()` converts the text.

# %%
invite = parse_message(crlf("""\
INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Content-Type: application/sdp
Content-Length: 127

v=0
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0
"""))

ringing = parse_message(crlf("""\
SIP/2.0 180 Ringing
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.101
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
Contact: <sip:bob@192.0.2.4>
CSeq: 314159 INVITE
Content-Length: 0

"""))

table([
    {"": "class", "INVITE": type(invite).__name__, "180": type(ringing).__name__},
    {"": "start line", "INVITE": invite.start_line, "180": ringing.start_line},
    {"": "label (for ladders)", "INVITE": invite.label, "180": ringing.label},
    {"": "method / status", "INVITE": invite.method, "180": ringing.status},
    {"": "Request-URI / reason", "INVITE": invite.uri_text, "180": ringing.reason},
    {"": "headers", "INVITE": len(invite.headers), "180": len(ringing.headers)},
    {"": "body bytes", "INVITE": len(invite.body), "180": len(ringing.body)},
])

# %% [markdown]
# The body is whatever `Content-Type` says, here an SDP session description (notebook
# 04), exactly `Content-Length` bytes long:

# %%
print(invite.content_type, invite.content_length)
print(invite.body.decode())

# %% [markdown]
# ## 2. Headers: a list of lines, looked up by name
#
# `message.headers` keeps the header lines in order, as `(name, value)` pairs. Names are
# case-insensitive, and the common ones have a one-letter **compact form** (§7.3.3) that
# phones use to keep UDP datagrams small: `v` Via, `f` From, `t` To, `i` Call-ID,
# `m` Contact, `l` Content-Length, `c` Content-Type... Look headers up through
# `headers`, never by string matching, and any spelling works:

# %%
compact = parse_message(crlf("""\
OPTIONS sip:carol@chicago.example.com SIP/2.0
v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKhjhs8ass877
v: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1d32hr4 , SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKx1
max-forwards: 70
t: <sip:carol@chicago.example.com>
f: Alice <sip:alice@atlanta.example.com>;tag=1928301774
i: a84b4c76e66710
CSEQ: 63104 OPTIONS
l: 0

"""))

for name, value in compact.headers:
    print(f"{name:>13} = {canonical_name(name):<14}: {value}")
print()
print("headers.get('Call-ID'):", compact.headers.get("Call-ID"))
print("headers.get('cseq'):   ", compact.headers.get("cseq"))

# %% [markdown]
# Some headers may appear several times, or hold a comma-separated list on one line;
# both mean the same (§7.3.1). `get_all` gives the lines, `get_list` the elements,
# and typed accessors such as `message.via` parse each element:

# %%
print("lines:   ", compact.headers.get_all("Via"))
print("elements:", compact.headers.get_list("Via"))
print()
for via in compact.via:
    print(f"{via.transport} {via.sent_by:<16} branch={via.branch}")

# %% [markdown]
# ## 3. The headers that matter
#
# Six headers must be in every request (§8.1.1): **Via, Max-Forwards, To, From,
# Call-ID, CSeq**. With Contact and the two routing headers they are what SIP
# elements read to decide where a message goes and what it belongs to:
#
# | header | what it says | who writes it | RFC 3261 |
# |---|---|---|---|
# | **Via** | the path back: each element that forwards a request adds one on top, responses retrace them; the top `branch` names the *transaction* | every hop | §8.1.1.7, §18.2.2 |
# | **Max-Forwards** | hops left: each proxy takes one, at 0 the request gets `483 Too Many Hops` | the sender, 70 | §8.1.1.6 |
# | **From** / **To** | who asks and whom; the caller puts a *tag* in From, the callee one in To | the caller; the callee adds the To tag | §8.1.1.2-3 |
# | **Call-ID** | one conversation: a call, or a phone's registrations | the caller | §8.1.1.4 |
# | **CSeq** | a number and the method: orders the requests of a dialog; ACK and CANCEL repeat the INVITE's number | the sender of each request | §8.1.1.5 |
# | **Contact** | where to reach this phone directly: later requests of the call go there | the phones | §8.1.1.8 |
# | **Record-Route** / **Route** | a proxy that wants to stay on the path of the call adds Record-Route; the phones copy the list into Route on their later requests | proxies / phones | §16.6, §12.2.1.1 |
#
# Call-ID, From tag and To tag together name a **dialog**, the relationship of the
# two phones during a call (§12). The Via branch names a **transaction**, one request
# and its responses (§17).
#
# Let's watch them on a real call through the lab's proxy. Alice calls Bob, Bob
# answers, Alice hangs up (notebook 03 is about calls; here we only read the headers).

# %%
lab = await siplab.lab.start(seed=1)
trace = Trace().attach(lab.server)
alice = await lab.user_agent("alice", trace=trace)
bob = await lab.user_agent("bob", trace=trace)
SERVER, ALICE, BOB = lab.udp, alice.local, bob.local
names = {f"{p.host}:{p.port}": name for p, name in ((SERVER, "server"), (ALICE, "alice"),
                                                    (BOB, "bob"))}

trace.clear()  # keep only the call
call = await alice.call("bob")
incoming = await bob.next_invitation(timeout=5)
await incoming.accept()
await call.established(timeout=5)
await call.bye(timeout=5)
print(text_ladder(trace, names=names))

# %% [markdown]
# `sent(src, dst, label)` picks one message of the trace by who sent it to whom.
# Here is every message of the call with the headers of the table (the Call-ID is
# shortened; it is the same everywhere):

# %%
def sent(src, dst, label):
    """The first message labelled `label` that went from `src` to `dst` (Peers)."""
    return next(w.message for w in trace.messages
                if w.src == src and w.dst == dst and w.label == label)


def who(peer):
    return {SERVER: "server", ALICE: "alice", BOB: "bob"}.get(peer, str(peer))


table([
    {
        "message": f"{who(w.src)} → {who(w.dst)}: {w.label}",
        "CSeq": str(w.message.cseq),
        "From tag": w.message.from_tag,
        "To tag": w.message.to_tag or "",
        "Vias": w.message.via_count,
        "top Via branch": w.message.branch,
        "Max-Fwd": w.message.max_forwards if w.message.max_forwards is not None else "",
        "Route": ", ".join(str(r.uri) for r in w.message.route),
        "Record-Route": ", ".join(str(r.uri) for r in w.message.record_route),
    }
    for w in trace.messages
])

# %% [markdown]
# Things to notice in that table:
#
# - **One Call-ID, one From tag** all along, and the **To tag** appears with Bob's
#   first response: from then on, Call-ID + the two tags name the dialog.
# - **CSeq** is `1 INVITE` for the INVITE, its responses *and its ACK*, then `2 BYE`.
# - Between the server and Bob, requests have **two Vias**: the proxy's on top, Alice's
#   below. Each response is stripped of the top Via by the element it reaches, so
#   Alice gets hers back with one.
# - Every hop has its own **branch**: the proxy forwards Alice's INVITE in a new
#   transaction of its own (§16.6). The BYE is a new transaction, and the ACK of a
#   2xx gets a new branch too: it is not part of the INVITE transaction (§13.2.2.4).
# - The proxy added **Record-Route** to the INVITE, so it stays on the path: Alice's
#   BYE carries it as **Route**, and the proxy takes `Max-Forwards` down by one.
#
# The proxy's Via tells us more. Let's read the INVITE as Bob received it:

# %%
at_bob = sent(SERVER, BOB, "INVITE")
print(at_bob.start_line)
for via in at_bob.via:
    print(" Via:", via.sent_by, "branch", via.branch, " received", via.received,
          " rport", via.rport)
print(" Record-Route:", at_bob.headers.get("Record-Route"))
print(" Contact:", at_bob.contact[0].uri)

# %% [markdown]
# **Via, `received` and `rport` (RFC 3581).** A phone writes in its Via where it
# *thinks* it is (`sent-by`); behind a NAT that address is private and useless. So the
# first server notes where the request *really* came from: the source IP in `received`
# (when it differs) and the source port in `rport` (when the phone asked with an empty
# `;rport`). Responses go back there. `mark_received` is that step of the server, and
# `response_destination` says where a response to a Via goes:

# %%
behind_nat = build_request(
    "OPTIONS", "sip:bob@biloxi.example.com",
    from_="<sip:alice@atlanta.example.com>", to="<sip:bob@biloxi.example.com>",
    via_host="10.0.0.7", via_port=5060, ids=IdSource(seed=1),
)
print("sent:    ", behind_nat.headers.get("Via"))
print("  a response would go to", response_destination(behind_nat.top_via))
mark_received(behind_nat, "203.0.113.50", 40312)  # the packet came from the NAT's address
print("received:", behind_nat.headers.get("Via"))
print("  a response goes to    ", response_destination(behind_nat.top_via))

# %% [markdown]
# **From, To and the dialog.** `parse_address` reads a name-addr: an optional display
# name, the URI in angle brackets, and parameters such as the tag. In the 200 OK that
# Alice received, the From tag is hers and the To tag Bob's; her phone keeps the
# dialog with those, plus what it needs to send the next requests: the remote target
# (Bob's Contact) and the route set (the Record-Route list, reversed):

# %%
ok = sent(SERVER, ALICE, "200 OK")
print("From:", ok.from_.uri, " tag", ok.from_.tag)
print("To:  ", ok.to.uri, " tag", ok.to.tag)
print("parse_address:", parse_address('"Bob" <sip:bob@127.0.0.1>;tag=xyz'))
print()
dialog = call.dialog
print("Alice's dialog: Call-ID", dialog.call_id)
print("  local tag", dialog.local_tag, " remote tag", dialog.remote_tag)
print("  remote target", dialog.remote_target)
print("  route set", [str(r.uri) for r in dialog.route_set])
print("  local CSeq", dialog.local_seq)

# %% [markdown]
# **Contact and Route.** So Alice's BYE is addressed to Bob's Contact (the
# Request-URI), but *sent* to the first Route, the proxy, because of the `;lr` (loose
# routing, §16.12) parameter. The proxy removes its own Route and forwards to the
# Request-URI:

# %%
print(sent(ALICE, SERVER, "BYE"))

# %% [markdown]
# ## Exercise: where does the response go?
#
# A proxy received this request and must send `200 OK` back. To which IP address and
# port? Put `(host, port)` in `answer`, with the host as a string and the port as a
# number, then run the check.

# %%
exercise_request = parse_message(crlf("""\
OPTIONS sip:carol@chicago.example.com SIP/2.0
Via: SIP/2.0/UDP 10.1.1.5:5070;branch=z9hG4bK74bf9;received=203.0.113.9;rport=61234
Via: SIP/2.0/UDP 192.0.2.200:5060;branch=z9hG4bKnashds7
Max-Forwards: 69
To: <sip:carol@chicago.example.com>
From: <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: 2xTb9vxSit55XU7p8@atlanta.example.com
CSeq: 1 OPTIONS
Content-Length: 0

"""))

# %% tags=["exercise"] id="exercise-response-destination"
answer = None  # ("host", port)

# %% tags=["check", "raises-exception"] id="check-response-destination"
assert answer is not None, "replace None with a (host, port) pair"
host, port = answer
expected = response_destination(exercise_request.top_via)
assert isinstance(port, int), "give the port as a number, not a string"
assert (host, port) == expected, (
    f"not {answer}: a response retraces the *top* Via, and RFC 3581 says where it "
    "really came from (received, rport)")
print(f"Correct: the 200 OK goes to {host}:{port}, where the request really came from.")

# %% [markdown]
# ## 4. Building messages (RFC 3261 §8.1.1, §8.2.6)
#
# `build_request` fills in the mandatory headers: a Via with a fresh branch (starting
# with the magic cookie `z9hG4bK`, §8.1.1.7), Max-Forwards 70, a From tag, a Call-ID,
# CSeq 1. The random parts come from an `IdSource`; seeded, they are the same on every
# run. Here is an OPTIONS ("what can you do?", §11) for the lab server:

# %%
ids = IdSource(seed=7)
options = build_request(
    "OPTIONS", f"sip:{SERVER.host}:{SERVER.port}",
    from_="<sip:student@127.0.0.1>", to=f"<sip:{SERVER.host}:{SERVER.port}>",
    via_host="127.0.0.1", via_port=5099, ids=ids,
)
print(options)

# %% [markdown]
# A response copies Via (all of them, in order), From, To, Call-ID and CSeq from the
# request, and the answering side adds its tag to To (§8.2.6.2). `build_response` does
# just that; a CANCEL (§9.1) copies the INVITE's Request-URI, Call-ID, From, To, top
# Via (branch included) and CSeq *number*, with the method CANCEL:

# %%
print(build_response(options, 200, to_tag="server-tag-1"))
print(build_cancel(invite))

# %% [markdown]
# Let's send our OPTIONS to the lab server. `exchange()` sends bytes from a fresh UDP
# socket and returns the server's answer (None if none came). `;rport` in the Via,
# which `build_request` writes, makes the answer come back to that socket although the
# Via names port 5099:

# %%
async def exchange(data: bytes, timeout: float = 1.0) -> Response | bytes | None:
    """Send `data` to the lab server over UDP; return its answer, parsed if possible."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        await loop.sock_sendto(sock, data, (SERVER.host, SERVER.port))
        try:
            async with asyncio.timeout(timeout):
                data = await loop.sock_recv(sock, 65535)
        except TimeoutError:
            return None
    try:
        return parse_message(data)
    except SipParseError:
        return data


print(await exchange(options.to_bytes()))

# %% [markdown]
# The server answers for itself (the Request-URI has no user part) with the methods it
# allows. The `Via` came back with `received` and `rport` filled in.
#
# ## 5. Broken messages
#
# A SIP element must not act on a message it cannot trust. siplab checks in two steps:
#
# 1. `parse_message` checks what is needed to cut the message out of the bytes at all:
#    the start line, header syntax, the empty line, Content-Length against the body.
#    It raises `SipParseError` saying *what* and *where*;
# 2. `message.validate()` checks what a user agent or server needs before acting: the
#    mandatory headers present and readable, the CSeq method equal to the request's,
#    the version `SIP/2.0`.
#
# A server that can read the start line answers a broken request with `400 Bad Request`
# and, in siplab, the reason phrase says what was wrong. Here are some classic
# mistakes, checked both ways and sent to the lab server:

# %%
GOOD = f"""\
OPTIONS sip:{SERVER.host}:{SERVER.port} SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-broken-1;rport
Max-Forwards: 70
To: <sip:{SERVER.host}:{SERVER.port}>
From: <sip:student@127.0.0.1>;tag=8765
Call-ID: broken-1@127.0.0.1
CSeq: 1 OPTIONS
Content-Length: 0

"""
BROKEN = {
    "not SIP at all": "HELLO\n\n",
    "a space in the Request-URI": GOOD.replace("OPTIONS sip:", "OPTIONS sip: ", 1),
    "a header line without ':'": GOOD.replace("Max-Forwards: 70", "Max-Forwards 70"),
    "Content-Length larger than the body": GOOD.replace("Content-Length: 0",
                                                        "Content-Length: 20"),
    "no Max-Forwards": GOOD.replace("Max-Forwards: 70\n", ""),
    "CSeq method differs from the method": GOOD.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),
    "no Call-ID": GOOD.replace("Call-ID: broken-1@127.0.0.1\n", ""),
    "no Via": GOOD.replace("Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-broken-1;rport\n", ""),
    "SIP/3.0": GOOD.replace("SIP/2.0\n", "SIP/3.0\n", 1),
}


def diagnose(text: str) -> tuple[str, str]:
    """What parse_message and validate() say about `text`."""
    try:
        message = parse_message(crlf(text))
    except SipParseError as error:
        return f"SipParseError: {error}", "-"
    try:
        message.validate()
    except SipParseError as error:
        return "ok", f"SipParseError: {error}"
    return "ok", "ok"


rows = []
for number, (problem, text) in enumerate(BROKEN.items(), start=2):
    text = text.replace("broken-1", f"broken-{number}")  # a new Call-ID and branch each time
    parsed, validated = diagnose(text)
    reply = await exchange(crlf(text))
    said = reply.start_line if isinstance(reply, Response) else "(no answer)"
    rows.append({"problem": problem, "parse_message": parsed, "validate()": validated,
                 "the lab server answers": said})
table(rows)

# %% [markdown]
# The server answers whatever it can: even when the parser gives up, it picks the Via,
# From, To, Call-ID and CSeq out of the lines it can read, so that its `400` finds its
# way back and names the request it refuses (without a Via it answers to the address the
# datagram came from). Only bytes with no request line at all get no answer: the
# sender's transaction will time out. `SIP/3.0` passes the parser, which accepts any
# `SIP/x.y`, and is refused by `validate()` and the server with `505 Version Not
# Supported`: there is no such version.

# %% [markdown]
# ## Exercise: fix a broken request
#
# `broken_options` below has three mistakes. Make `fixed_options` a corrected copy:
# edit the text, or use `broken_options.replace(...)`. Use `diagnose()` and
# `await exchange(crlf(...))` to find them one by one, as the table above does. The
# check sends your message to the lab server and wants `200 OK`.

# %%
broken_options = f"""\
OPTIONS sip:{SERVER.host}:{SERVER.port} SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-exercise-2;rport
To: <sip:{SERVER.host}:{SERVER.port}>
From: <sip:student@127.0.0.1>;tag=4242
Call-ID: exercise-2@127.0.0.1
CSeq: 7 INVITE
Content-Length: 12

"""
print(broken_options)
print(diagnose(broken_options))

# %% tags=["exercise"] id="exercise-fix-options"
fixed_options = None  # a corrected copy of broken_options (a str)

# %% tags=["check", "raises-exception"] id="check-fix-options"
assert fixed_options is not None, "replace None with your corrected text"
checked = parse_message(crlf(fixed_options))  # raises SipParseError if still broken
checked.validate()
assert checked.method == "OPTIONS", "keep it an OPTIONS request"
server_answer = await exchange(crlf(fixed_options))
assert isinstance(server_answer, Response), "the server did not answer: is the start line intact?"
assert server_answer.status == 200, f"the server answered {server_answer.start_line}"
print("Correct: the lab server answered", server_answer.start_line)

# %% [markdown]
# ## 6. See it in Wireshark
#
# The trace holds the call and everything the server received and sent, the 400s
# included (the server's trace sees our raw socket too). A capture written from a
# trace leaves out what does not parse as SIP, so the requests that broke the parser
# are missing from it and only their 400s show (`trace.records` still has the raw
# bytes). Write it next to the notebook:

# %%
CAPTURES = Path("captures")
CAPTURES.mkdir(exist_ok=True)
pcap = trace.to_pcap(CAPTURES / "01_sip_messages.pcap")
print("wrote", pcap.resolve())

# %% [markdown]
# In Wireshark, open it and filter `sip`; unfold *Session Initiation Protocol →
# Message Header* on any packet and find the fields of this notebook (Wireshark shows
# `Via`'s `branch`, `received` and `rport`, the tags, `CSeq`). Useful filters:
# `sip.Method == "BYE"`, `sip.Status-Code >= 400`, `sip.Call-ID == "..."`. Add a field
# as a column with a right click → *Apply as Column*. tshark prints such columns with
# `-T fields`, here the table of section 3 (the server's port is decoded as SIP with
# `-d`):

# %%
fields = ["frame.number", "sip.Method", "sip.Status-Code", "sip.CSeq", "sip.from.tag",
          "sip.to.tag", "sip.Via.branch", "sip.Max-Forwards"]
command = ["tshark", "-r", str(pcap), "-d", f"udp.port=={SERVER.port},sip", "-Y", "sip",
           "-T", "fields", "-E", "header=y", *[arg for field in fields for arg in ("-e", field)]]
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
# - A SIP message is a start line (request: method, Request-URI, version; response:
#   version, status, reason), headers, an empty line and a body of `Content-Length`
#   bytes, with CRLF line ends.
# - Header names are case-insensitive and have compact forms; a header may repeat or
#   hold a comma list. Read them through `message.headers` and the typed accessors
#   (`via`, `from_`, `to`, `call_id`, `cseq`, `contact`, `route`, `record_route`).
# - Via is the way back (the top branch names the transaction; `received`/`rport` fix
#   the address behind a NAT); Call-ID and the From and To tags name the dialog; CSeq
#   orders requests; Contact is where a phone can be reached; Record-Route and Route
#   keep a proxy on the path.
# - `build_request`, `build_response` and `build_cancel` get the mandatory headers
#   right; `parse_message` and `validate()` say what is wrong with a message, and the
#   lab server answers `400` with the same reason.
#
# ## What's next
#
# `02_registration` follows one header in action: the REGISTER that binds an address
# of record to a Contact, the `401` challenge and its digest answer, computed by hand.
