"""Watching siplab work: ``enable_debug()`` prints every log line of the ``siplab`` loggers.

JsSIP has ``JsSIP.debug.enable('JsSIP:*')`` and SIP.js a ``logLevel: "debug"``
option: both print what goes over the wire and what the stack decides, with a
time stamp and the name of the part speaking. siplab logs the same things
through Python's :mod:`logging`, one logger per layer:

=====================  ==========================================================
``siplab.transport``   every message in and out (whole messages when debugging)
``siplab.transaction``  transactions starting, retransmitting, timing out (§17)
``siplab.ua``          the user agent's decisions ("REGISTER 401 -> retrying with
                       digest", "2xx from a second fork: ACK and BYE")
``siplab.server``      the lab server's registrar and proxy
=====================  ==========================================================

:func:`enable_debug` sets them all to DEBUG and adds one handler that writes
``12:00:01.234 siplab.transport  udp out 127.0.0.1:5070 -> ...`` lines to a
stream (stderr by default); :func:`disable_debug` undoes it.
``UserAgent(..., debug=True)`` and ``siplab server --debug`` call it for you.

Passwords never show: SIP carries only a digest hash of them, and every object
holding one prints ``password=NOT SHOWN``.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["enable_debug", "disable_debug", "DebugHandler", "DEBUG_FORMAT"]

#: One line per record: time with milliseconds, logger name, the text.
DEBUG_FORMAT = "%(asctime)s.%(msecs)03d %(name)-18s %(message)s"
_TIME_FORMAT = "%H:%M:%S"
_ROOT = "siplab"


class DebugHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`enable_debug` installs (a class of its own, so it can be found)."""


def enable_debug(stream: TextIO | None = None) -> logging.Handler:
    """Log everything siplab does at DEBUG level to ``stream`` (default: stderr).

    Calling it again replaces the previous handler (so the stream can change);
    returns the handler installed.
    """
    logger = logging.getLogger(_ROOT)
    _remove_handlers(logger)
    handler = DebugHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(DEBUG_FORMAT, _TIME_FORMAT))
    handler.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler


def disable_debug() -> None:
    """Remove the debug handler and give the ``siplab`` loggers their default level back."""
    logger = logging.getLogger(_ROOT)
    _remove_handlers(logger)
    logger.setLevel(logging.NOTSET)


def _remove_handlers(logger: logging.Logger) -> None:
    for handler in [h for h in logger.handlers if isinstance(h, DebugHandler)]:
        logger.removeHandler(handler)
        handler.close()
