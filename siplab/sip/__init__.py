"""The SIP protocol itself, with no sockets and no clock (RFC 3261 and friends).

Everything here is a pure function or a state machine fed with bytes and the
current time, so it runs the same in a notebook's simulated network, in a unit
test and under asyncio. Read it in this order:

1. ``grammar``, ``uri``, ``headers``, ``message``: what a SIP message is (§7, §19, §20, §25);
2. ``build``, ``framing``: making messages and cutting them out of a TCP stream (§8, §18);
3. ``auth``: digest authentication (RFC 7616, RFC 8760);
4. ``timers``, ``transaction``: retransmissions and matching (§17, RFC 6026);
5. ``dialog``: the relationship two user agents keep during a call (§12).
"""

from __future__ import annotations

from siplab.compiled_core import use_compiled_core

# With SIPLAB_COMPILED=1, the same modules compiled by mypyc (siplab.compiled_core);
# this must come before the first import from siplab.sip below (hence E402).
# ruff: noqa: E402
use_compiled_core(__path__)

from siplab.errors import SipParseError
from siplab.sip.auth import (
    Challenge,
    Credentials,
    DigestClient,
    UnsupportedChallenge,
    add_authorization,
    authorize,
    choose_challenge,
    compute_response,
    parse_challenge,
    parse_credentials,
)
from siplab.sip.auth_server import AuthResult, AuthStatus, DigestServer
from siplab.sip.build import (
    build_ack_for_failure,
    build_cancel,
    build_request,
    build_response,
    mark_received,
    response_destination,
)
from siplab.sip.dialog import Dialog, DialogId, DialogState, Role, dialog_id_of
from siplab.sip.events import (
    Event,
    IncomingCall,
    InfoReceived,
    MessageDiscarded,
    MessageReceived,
    NotifyReceived,
    ReferReceived,
    Registered,
    RegistrationFailed,
    RegistrationQueried,
    ReinviteReceived,
    RequestFailed,
    RequestReceived,
    RequestSucceeded,
    ResponseReceived,
    SessionEstablished,
    SessionModified,
    SessionProgress,
    SessionTerminated,
    TransactionTerminated,
    TransactionTimedOut,
    TransferCompleted,
    TransportFailed,
    Unregistered,
)
from siplab.sip.framing import StreamFramer
from siplab.sip.headers import (
    Address,
    CSeq,
    Headers,
    Via,
    canonical_name,
    parse_address,
    parse_cseq,
    parse_via,
)
from siplab.sip.invite import Session
from siplab.sip.invite_client import OutgoingSession
from siplab.sip.invite_server import IncomingSession
from siplab.sip.invite_table import SESSION_MACHINES, SessionState
from siplab.sip.message import Message, Request, Response, parse_message
from siplab.sip.proxy import ProxyCore
from siplab.sip.registrar import Binding, LocationService, Registrar
from siplab.sip.registration import REGISTRATION, Registration, RegistrationState
from siplab.sip.server import BindingRemoved, BindingsChanged, ServerConfig, ServerCore, ServerStats
from siplab.sip.status import reason_phrase
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import (
    MACHINES,
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    TransactionState,
)
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer
from siplab.sip.uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri, uri_equal
from siplab.sip.useragent import UserAgentConfig, UserAgentCore

__all__ = [
    "SipParseError",
    "parse_message",
    "Message",
    "Request",
    "Response",
    "Headers",
    "Address",
    "Via",
    "CSeq",
    "canonical_name",
    "parse_address",
    "parse_via",
    "parse_cseq",
    "SipUri",
    "TelUri",
    "AbsoluteUri",
    "Uri",
    "parse_uri",
    "uri_equal",
    "StreamFramer",
    "build_request",
    "build_response",
    "build_cancel",
    "build_ack_for_failure",
    "mark_received",
    "response_destination",
    "reason_phrase",
    "Peer",
    # digest authentication
    "Challenge",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "AuthResult",
    "AuthStatus",
    "UnsupportedChallenge",
    "parse_challenge",
    "parse_credentials",
    "choose_challenge",
    "compute_response",
    "authorize",
    "add_authorization",
    # transactions
    "TimerConfig",
    "TransactionState",
    "MACHINES",
    "ClientTransaction",
    "ServerTransaction",
    "InviteClientTransaction",
    "NonInviteClientTransaction",
    "InviteServerTransaction",
    "NonInviteServerTransaction",
    "TransactionLayer",
    # events
    "Event",
    "RequestReceived",
    "ResponseReceived",
    "TransactionTimedOut",
    "TransportFailed",
    "TransactionTerminated",
    "MessageDiscarded",
    # dialogs
    "Dialog",
    "DialogId",
    "DialogState",
    "Role",
    "dialog_id_of",
    # the user agent core
    "UserAgentConfig",
    "UserAgentCore",
    "Registration",
    "RegistrationState",
    "REGISTRATION",
    "Session",
    "OutgoingSession",
    "IncomingSession",
    "SessionState",
    "SESSION_MACHINES",
    "Registered",
    "RegistrationFailed",
    "RegistrationQueried",
    "Unregistered",
    "IncomingCall",
    "SessionProgress",
    "SessionEstablished",
    "SessionTerminated",
    "SessionModified",
    "ReinviteReceived",
    "InfoReceived",
    "ReferReceived",
    "NotifyReceived",
    "TransferCompleted",
    "MessageReceived",
    "RequestSucceeded",
    "RequestFailed",
    # the registrar/proxy core
    "ServerConfig",
    "ServerCore",
    "ServerStats",
    "Registrar",
    "LocationService",
    "Binding",
    "ProxyCore",
    "BindingsChanged",
    "BindingRemoved",
]
