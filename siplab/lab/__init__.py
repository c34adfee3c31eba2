"""Teaching tools: the instruments a notebook uses to watch SIP work.

``siplab.lab`` sits on top of everything else (it may import the SIP core, the
asyncio driver and plotting libraries; nothing in siplab imports it). It holds
the simulated network (:class:`SimNetwork`, with its loss patterns),
:func:`start` (``lab = await siplab.lab.start()``: a LabServer on free
loopback ports with ready :class:`Account` s, and phones from
``await lab.user_agent("alice")``) and, in later modules, traces, pcap
reading, ladder diagrams, state-machine drawings and widgets.

Importing it stays cheap: modules that need matplotlib, scapy or ipywidgets
import them inside the functions that use them, never at import time.
"""

from __future__ import annotations

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
from siplab.lab.start import DEFAULT_USERS, Account, Lab, start

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
]
