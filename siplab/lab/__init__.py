"""Teaching tools: the instruments a notebook uses to watch SIP work.

``siplab.lab`` sits on top of everything else (it may import the SIP core, the
asyncio driver and plotting libraries; nothing in siplab imports it). It holds
the simulated network (:class:`SimNetwork`, with its loss patterns),
:func:`start` (``lab = await siplab.lab.start()``: a LabServer on free
loopback ports with ready :class:`Account` s, and phones from
``await lab.user_agent("alice")``) and, in later modules, traces, pcap
reading, ladder diagrams, state-machine drawings and widgets (:class:`Dialer`,
:class:`LiveLadder`).

Importing it stays cheap: every name below is imported from its module the
first time it is used (PEP 562 ``__getattr__``), so ``import siplab.lab`` costs
nothing and ``siplab analyze`` loads only the capture reader; modules that need
matplotlib, scapy or ipywidgets import them inside the functions that use them.
To export a new name, add it to ``__all__`` and to ``_EXPORTS``.

Four functions share their module's name (``flow``, ``ladder``, ``replay``, ``start``) and
are imported at once instead: importing a submodule sets the package attribute
of that name to the *module*, which would hide the lazy function.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from siplab.lab.flow import flow
from siplab.lab.ladder import ladder
from siplab.lab.replay import replay
from siplab.lab.start import start

if TYPE_CHECKING:
    from siplab.lab.analysis import RtpStreamStats, rtp_streams
    from siplab.lab.diagrams import diagram
    from siplab.lab.flow import FlowRow
    from siplab.lab.kamailio import (
        ClassServer,
        Kamailio,
        KamailioError,
        class_server,
        start_kamailio,
    )
    from siplab.lab.ladder import ladder_pages
    from siplab.lab.ladder_text import text_ladder
    from siplab.lab.network import (
        DropAll,
        DropEvery,
        DropIf,
        DropNext,
        Endpoint,
        LossPattern,
        RandomLoss,
        Record,
        SimNetwork,
    )
    from siplab.lab.pcap import Capture, MediaPacket, Packet, PcapError, WireMessage, read_pcap
    from siplab.lab.plots import (
        audio,
        plot_deltas,
        plot_jitter,
        plot_sequence,
        plot_spectrogram,
        plot_stream,
        plot_waveform,
    )
    from siplab.lab.redact import RedactionReport, redact_pcap
    from siplab.lab.replay import Replayer, ReplayReport, ReplayStep, Verdict
    from siplab.lab.start import DEFAULT_USERS, Account, Lab
    from siplab.lab.trace import Trace
    from siplab.lab.widgets import Dialer, dialers
    from siplab.lab.widgets_ladder import LiveLadder
    from siplab.lab.widgets_state import Light, Phase

__all__ = [
    "SimNetwork",
    "Record",
    "Endpoint",
    "LossPattern",
    "DropNext",
    "DropEvery",
    "RandomLoss",
    "DropIf",
    "DropAll",
    "start",
    "Lab",
    "Account",
    "DEFAULT_USERS",
    # traces, captures, flows and RTP statistics (scapy only inside Trace.to_pcap)
    "Trace",
    "read_pcap",
    "Capture",
    "WireMessage",
    "MediaPacket",
    "Packet",
    "PcapError",
    "redact_pcap",
    "RedactionReport",
    "flow",
    "FlowRow",
    "rtp_streams",
    "RtpStreamStats",
    # ladders and state diagrams (matplotlib, imported when drawing)
    "ladder",
    "ladder_pages",
    "text_ladder",
    "diagram",
    # RTP plots
    "plot_sequence",
    "plot_deltas",
    "plot_jitter",
    "plot_waveform",
    "plot_spectrogram",
    "plot_stream",
    "audio",
    # replaying one side of a capture against a live UA or server
    "replay",
    "Replayer",
    "ReplayReport",
    "ReplayStep",
    "Verdict",
    # a real SIP server: Kamailio started for a notebook, or the class's (RFC 3261 §16)
    "start_kamailio",
    "Kamailio",
    "KamailioError",
    "class_server",
    "ClassServer",
    # widgets (ipywidgets, imported when one is made)
    "Dialer",
    "dialers",
    "LiveLadder",
    "Light",
    "Phase",
]

# name -> the module that defines it, imported on first use.
_EXPORTS = {
    "Replayer": "siplab.lab.replay",
    "ReplayReport": "siplab.lab.replay",
    "ReplayStep": "siplab.lab.replay",
    "Verdict": "siplab.lab.replay",
    "RtpStreamStats": "siplab.lab.analysis",
    "rtp_streams": "siplab.lab.analysis",
    "diagram": "siplab.lab.diagrams",
    "FlowRow": "siplab.lab.flow",
    "ladder_pages": "siplab.lab.ladder",
    "text_ladder": "siplab.lab.ladder_text",
    "DropAll": "siplab.lab.network",
    "DropEvery": "siplab.lab.network",
    "DropIf": "siplab.lab.network",
    "DropNext": "siplab.lab.network",
    "Endpoint": "siplab.lab.network",
    "LossPattern": "siplab.lab.network",
    "RandomLoss": "siplab.lab.network",
    "Record": "siplab.lab.network",
    "SimNetwork": "siplab.lab.network",
    "audio": "siplab.lab.plots",
    "plot_deltas": "siplab.lab.plots",
    "plot_jitter": "siplab.lab.plots",
    "plot_sequence": "siplab.lab.plots",
    "plot_spectrogram": "siplab.lab.plots",
    "plot_stream": "siplab.lab.plots",
    "plot_waveform": "siplab.lab.plots",
    "Capture": "siplab.lab.pcap",
    "MediaPacket": "siplab.lab.pcap",
    "Packet": "siplab.lab.pcap",
    "PcapError": "siplab.lab.pcap",
    "WireMessage": "siplab.lab.pcap",
    "read_pcap": "siplab.lab.pcap",
    "redact_pcap": "siplab.lab.redact",
    "RedactionReport": "siplab.lab.redact",
    "DEFAULT_USERS": "siplab.lab.start",
    "Account": "siplab.lab.start",
    "Lab": "siplab.lab.start",
    "Trace": "siplab.lab.trace",
    "start_kamailio": "siplab.lab.kamailio",
    "Kamailio": "siplab.lab.kamailio",
    "KamailioError": "siplab.lab.kamailio",
    "class_server": "siplab.lab.kamailio",
    "ClassServer": "siplab.lab.kamailio",
    "Dialer": "siplab.lab.widgets",
    "dialers": "siplab.lab.widgets",
    "LiveLadder": "siplab.lab.widgets_ladder",
    "Light": "siplab.lab.widgets_state",
    "Phase": "siplab.lab.widgets_state",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'siplab.lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
