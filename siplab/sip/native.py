"""Does this package run as plain Python, or compiled to C by mypyc?

siplab's SIP core is written to be read: students step through it, and every
notebook runs it as the Python you see. The same source also compiles, with
mypyc (the compiler mypy ships), into C extension modules that run the core
about twice as fast; LabServer uses that build when ``SIPLAB_COMPILED=1`` (see
:mod:`siplab.compiled_core`), so that one laptop can serve a whole class.

Plain Python lets a few hot spots make an object without running its
constructor (``object.__new__``), which saves a good part of a microsecond
per message. A compiled class can only be made by its constructor, which is
cheap there. Those spots ask :data:`COMPILED` which way to go.
"""

from __future__ import annotations

from typing import Final

__all__ = ["COMPILED"]

#: True when this module (and so the whole core, built as one) is compiled.
COMPILED: Final = not __file__.endswith(".py")
