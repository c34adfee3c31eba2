"""What a dialer shows: its widgets, and how each one is drawn from the phone's state.

:class:`DialerView` is the face of :class:`siplab.lab.widgets.Dialer`: the
ipywidgets controls (registration light, number, dial pad, call buttons,
incoming-call notice, timer, codec, RTP statistics, messages, log) and
:meth:`DialerView.refresh`, which redraws all of them from the user agent's
state and the dialer's own few facts (when the call was answered, how the
last one ended). What a state *means* (the light's colour, which buttons a
phase enables) is decided in :mod:`siplab.lab.widgets_state`; what the
buttons *do* is :class:`~siplab.lab.widgets.Dialer`'s business. Redrawing
everything at every event, rather than patching one label here and another
there, keeps the screen from ever disagreeing with the phone.

Every control carries a CSS class ``siplab-<role>`` (``siplab-call``,
``siplab-timer``...) and the dialer ``siplab-dialer-<name>``, so a browser
test finds Alice's Call button as ``.siplab-dialer-alice .siplab-call``.
"""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING

import ipywidgets as widgets

from siplab.aio.hold import direction_of
from siplab.lab.widgets_state import (
    BUTTONS,
    CALL_BUTTONS,
    LIGHT_COLOURS,
    LIGHTS,
    Light,
    Phase,
    describe_end,
    format_duration,
    phase_of,
)
from siplab.sip.registration import RegistrationState

if TYPE_CHECKING:
    from siplab.aio.rtp_stats import RtpStats
    from siplab.aio.session import Session
    from siplab.aio.useragent import IncomingMessage, UserAgent

__all__ = ["DialerView", "KEYPAD", "user_of"]

#: The twelve keys of a phone, row by row (RFC 4733 events 0-9, 10 = *, 11 = #).
KEYPAD = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
_KEY_CLASS = {"*": "star", "#": "hash"}
_MAX_LOG_LINES = 200


def user_of(uri: object) -> str:
    """``bob`` for ``sip:bob@127.0.0.1``; the whole URI when it has no user."""
    user = getattr(uri, "user", None)
    return str(user) if user else str(uri)


class DialerView(widgets.VBox):  # type: ignore[misc]  # ipywidgets has no types
    """The widgets of a dialer and :meth:`refresh` (see the module docstring).

    ``name`` labels it; ``ua`` is its user agent, or None until it is made.
    """

    def __init__(self, name: str, ua: UserAgent | None) -> None:
        super().__init__()
        self.name = name
        self.ua = ua
        self.session: Session | None = None  # the current (or last) call
        self.received_messages: list[IncomingMessage] = []
        self.log_lines: list[str] = []  # oldest first; the log area shows the newest first
        self.message_lines: list[str] = []  # messages sent and received, oldest first
        self.rtp_stats: RtpStats | None = None  # the last snapshot of the call's RTP
        self.dtmf_sent = ""
        self._dialing = False  # Call clicked, INVITE not sent yet (media opening)
        self._registering = False
        self._registration_error: str | None = None
        self._answered_at: float | None = None  # loop time the call was established
        self._ended_at: float | None = None
        self._outcome: str | None = None  # how the last call ended
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._changed = asyncio.Event()  # set at every refresh(), for wait_until()
        self._build()

    # -- the widgets ----------------------------------------------------------------------

    @staticmethod
    def _button(label: str, role: str, *, style: str = "", width: str = "auto") -> widgets.Button:
        button = widgets.Button(description=label, button_style=style,
                                layout=widgets.Layout(width=width))
        button.add_class(f"siplab-{role}")
        return button

    def _build(self) -> None:
        self.add_class("siplab-dialer")
        self.add_class(f"siplab-dialer-{self.name}")
        self.layout = widgets.Layout(width="360px", border="1px solid #ccc", padding="6px",
                                     margin="0 8px 0 0")
        self.status_light = widgets.HTML()
        self.account_label = widgets.HTML(f"<b>{html.escape(self.name)}</b>")
        self.registration_label = widgets.Label("starting…")
        self.register_button = self._button("Register", "register")
        self.unregister_button = self._button("Unregister", "unregister")
        self.number = widgets.Text(placeholder="number: bob or sip:bob@host",
                                   layout=widgets.Layout(width="auto"))
        self.number.add_class("siplab-number")
        self.keypad = {key: self._button(key, f"key-{_KEY_CLASS.get(key, key)}", width="48px")
                       for key in KEYPAD}
        pad = widgets.GridBox(list(self.keypad.values()), layout=widgets.Layout(
            grid_template_columns="repeat(3, 52px)", grid_gap="2px"))
        self.call_button = self._button("Call", "call", style="success")
        self.answer_button = self._button("Answer", "answer", style="success")
        self.reject_button = self._button("Reject", "reject", style="danger")
        self.hold_button = self._button("Hold", "hold", style="warning")
        self.hangup_button = self._button("Hangup", "hangup", style="danger")
        self.incoming_notice = widgets.HTML()
        self.incoming_notice.add_class("siplab-incoming")
        self.status_label = widgets.Label("")
        self.timer_label = widgets.Label("00:00", style={"font_size": "22px",
                                                         "font_family": "monospace"})
        self.codec_label = widgets.Label("codec: -")
        self.stats_label = widgets.HTML("")
        self.dtmf_label = widgets.Label("")
        self.message_text = widgets.Text(placeholder="a message to the number",
                                         layout=widgets.Layout(flex="1"))
        self.message_text.add_class("siplab-message-text")
        self.send_button = self._button("Send", "send")
        self.messages_area = widgets.HTML("")
        self.log_area = widgets.Textarea("", disabled=True, rows=7,
                                         layout=widgets.Layout(width="auto"))
        for widget, role in ((self.status_light, "light"), (self.status_label, "status"),
                             (self.timer_label, "timer"), (self.codec_label, "codec"),
                             (self.stats_label, "stats"), (self.dtmf_label, "dtmf"),
                             (self.messages_area, "messages"), (self.log_area, "log"),
                             (self.registration_label, "registration")):
            widget.add_class(f"siplab-{role}")
        buttons = [getattr(self, f"{name}_button") for name in CALL_BUTTONS]
        self.children = [
            widgets.HBox([self.status_light, self.account_label, self.registration_label]),
            widgets.HBox([self.register_button, self.unregister_button]),
            self.number,
            widgets.HBox([pad, widgets.VBox([self.timer_label, self.codec_label,
                                             self.dtmf_label])]),
            self.status_label,
            widgets.HBox(buttons, layout=widgets.Layout(flex_flow="row wrap")),
            self.incoming_notice,
            self.stats_label,
            widgets.HBox([self.message_text, self.send_button]),
            self.messages_area,
            self.log_area,
        ]
        self.refresh()

    # -- what it shows --------------------------------------------------------------------

    @property
    def registration_state(self) -> RegistrationState:
        ua = self.ua
        if ua is None or not ua.running:
            return RegistrationState.Unregistered
        return ua.registerer().state

    @property
    def light(self) -> Light:
        """The registration light's colour."""
        return LIGHTS[self.registration_state]

    @property
    def phase(self) -> Phase:
        """Where the call stands (see :class:`~siplab.lab.widgets_state.Phase`)."""
        if self._dialing:
            return Phase.CALLING
        return phase_of(self.session)

    @property
    def call_seconds(self) -> float:
        """How long the current (or last) call has been established, in seconds."""
        if self._answered_at is None:
            return 0.0
        end = self._ended_at if self._ended_at is not None else self._loop.time()
        return end - self._answered_at

    def refresh(self) -> None:
        """Redraw every control from the user agent's state (called after every event)."""
        ua, phase, light = self.ua, self.phase, self.light
        colour = LIGHT_COLOURS[light]
        self.status_light.value = (f'<span class="siplab-light-{light}" title="{light}" '
                                   f'style="color:{colour};font-size:20px">●</span>')
        if ua is not None:
            self.account_label.value = (f"<b>{html.escape(self.name)}</b> "
                                        f"<small>{html.escape(str(ua.uri))}</small>")
        self.registration_label.value = self._registration_text()
        state = self.registration_state
        running = ua is not None and ua.running
        self.register_button.disabled = not running or state not in (
            RegistrationState.Unregistered, RegistrationState.Failed)
        self.unregister_button.disabled = not running or state is not RegistrationState.Registered
        enabled = BUTTONS[phase] if running else frozenset()
        for name in CALL_BUTTONS:
            getattr(self, f"{name}_button").disabled = name not in enabled
        self.hold_button.description = "Resume" if phase is Phase.ON_HOLD else "Hold"
        self.incoming_notice.value = self._incoming_text(phase)
        self.status_label.value = self._status_text(phase)
        self.timer_label.value = format_duration(self.call_seconds)
        session = self.session
        if session is not None and session.codec is not None:
            self.codec_label.value = f"codec: {session.codec}"
        if session is not None and session.media is not None and self._ended_at is None:
            self.rtp_stats = session.media.stats()
        self.stats_label.value = self._stats_text()
        received = session.dtmf_received if session is not None else ""
        self.dtmf_label.value = (f"keys sent {self.dtmf_sent or '-'}, heard {received or '-'}"
                                 if self.dtmf_sent or received else "")
        self.messages_area.value = self._messages_html()
        self._changed.set()

    def _registration_text(self) -> str:
        if self.ua is None:
            return "starting…"
        state = self.registration_state
        if state is RegistrationState.Registered:
            expires = self.ua.registerer().expires
            return f"registered ({expires} s)" if expires else "registered"
        if state is RegistrationState.Failed or (self._registration_error and not
                                                  self._registering):
            return f"failed: {self._registration_error or 'no answer'}"
        return {RegistrationState.Registering: "registering…",
                RegistrationState.Unregistering: "unregistering…"}.get(state, "not registered")

    def _incoming_text(self, phase: Phase) -> str:
        if phase is not Phase.RINGING or self.session is None:
            return ""
        caller = html.escape(str(self.session.remote_identity.uri))
        return (f'<div style="background:#fff3cd;border:1px solid #f0a202;padding:4px">'
                f"☎ Incoming call from <b>{caller}</b></div>")

    def _status_text(self, phase: Phase) -> str:
        session = self.session
        peer = user_of(session.remote_identity.uri) if session is not None else ""
        match phase:
            case Phase.CALLING:
                last = getattr(session, "last_provisional", None)
                heard = f" ({last.status} {last.reason})" if last is not None else ""
                return f"calling {peer or self.number.value}…{heard}"
            case Phase.RINGING:
                return f"{peer} is calling"
            case Phase.IN_CALL:
                held = session is not None and direction_of(session.remote_body) in (
                    "sendonly", "inactive")
                return f"in call with {peer}" + (" (they put us on hold)" if held else "")
            case Phase.ON_HOLD:
                return f"{peer} is on hold"
            case Phase.ENDING:
                return "hanging up…"
        if self._outcome is None and session is not None:  # over, its media still closing
            self._outcome = describe_end(session.cause, session.status)
        return f"last call: {self._outcome}" if self._outcome else "ready"

    def _stats_text(self) -> str:
        stats = self.rtp_stats
        if stats is None:
            return ""
        return (f"<small>RTP sent <b>{stats.packets_sent}</b> · received "
                f"<b>{stats.packets_received}</b> · lost <b>{stats.lost}</b> · jitter "
                f"<b>{stats.jitter_ms:.1f}</b> ms</small>")

    def _messages_html(self) -> str:
        return "".join(f"<div>✉ {html.escape(line)}</div>" for line in self.message_lines[-8:])

    def _log(self, text: str) -> None:
        """Add a line to the log, with the seconds since the dialer started."""
        self.log_lines.append(f"{self._loop.time() - self._started:7.3f} {text}")
        del self.log_lines[:-_MAX_LOG_LINES]
        self.log_area.value = "\n".join(reversed(self.log_lines))  # newest first
