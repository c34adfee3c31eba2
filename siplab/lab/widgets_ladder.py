"""A ladder diagram that draws itself while the calls go on: :class:`LiveLadder`.

:func:`siplab.lab.ladder` draws the messages of a call once it is over. In a
notebook with dialers it is more telling to watch the ladder grow while you
click: REGISTER and its 401 challenge (RFC 3261 §22), INVITE, 100 Trying,
180 Ringing, 200 OK, ACK (§13), the re-INVITEs of hold (RFC 3264 §8.4), BYE::

    lab = await siplab.lab.start()
    siplab.lab.dialers(lab, "alice", "bob")
    siplab.lab.LiveLadder(lab)          # everything the lab's server sees

A :class:`~siplab.lab.trace.Trace` records the messages (attached to the
lab's server, to one user agent, or given as it is); a task on the
notebook's asyncio loop looks at it every ``interval`` seconds (0.5 by
default) and redraws when it grew, so a burst of messages costs one
drawing, not one per message. The drawing is the text ladder of
:func:`siplab.lab.text_ladder` in an HTML ``<pre>`` by default (it renders
the same in JupyterLab, in a static export and in a headless browser, and
it is quick); ``kind="figure"`` shows the matplotlib ladder as a PNG image.
Only the last ``max_messages`` messages are drawn.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as widgets

from siplab.errors import LocalProtocolError
from siplab.lab.flow import FlowRow, flow
from siplab.lab.trace import Trace

__all__ = ["LiveLadder", "trace_of", "contains_in_order"]

_KINDS = ("text", "figure")


def trace_of(source: object) -> Trace:
    """The Trace to watch for ``source``: a Trace itself; for a Lab, its server; for a
    UserAgent or LabServer, the Trace already attached, or a new one attached now
    (it replaces any other ``trace`` hook)."""
    if isinstance(source, Trace):
        return source
    server = getattr(source, "server", None)
    if hasattr(source, "accounts") and server is not None:  # a Lab: watch its server
        source = server
    if not hasattr(source, "trace"):
        raise LocalProtocolError(f"a live ladder watches a Trace, a Lab, a LabServer or a "
                                 f"UserAgent, not {type(source).__name__}")
    hook = getattr(source, "trace", None)
    if isinstance(hook, Trace):
        return hook
    return Trace().attach(source)


def contains_in_order(labels: Sequence[str], wanted: Sequence[str]) -> bool:
    """True when each of ``wanted`` starts a label of ``labels``, in that order
    (others may come between): ``["INVITE", "200", "ACK"]`` in a call's flow."""
    position = 0
    for label in labels:
        if position < len(wanted) and label.startswith(wanted[position]):
            position += 1
    return position == len(wanted)


class LiveLadder(widgets.VBox):  # type: ignore[misc]  # ipywidgets has no types
    """A ladder of ``source`` that redraws as messages flow (see the module docstring).

    ``source``: a :class:`~siplab.lab.trace.Trace`, a :class:`~siplab.lab.Lab`
    (its server: every phone's messages), a LabServer or a UserAgent.
    ``interval``: the least time between two redraws, in seconds. ``kind``:
    ``"text"`` or ``"figure"``. ``names`` renames lifelines, as in
    :func:`siplab.lab.ladder`.

    :attr:`rows` are the :class:`~siplab.lab.FlowRow` s drawn last,
    :attr:`labels` their labels; :attr:`view` is the HTML (or Image) widget.
    """

    def __init__(self, source: object, *, interval: float = 0.5, kind: str = "text",
                 max_messages: int = 60, names: Mapping[str, str] | None = None,
                 title: str = "SIP ladder (live)") -> None:
        super().__init__()
        if kind not in _KINDS:
            raise LocalProtocolError(f"kind is one of {', '.join(_KINDS)}, not {kind!r}")
        self._loop = asyncio.get_running_loop()
        self.trace = trace_of(source)
        self.interval = interval
        self.kind = kind
        self.max_messages = max_messages
        self.names = names
        self.rows: list[FlowRow] = []
        self.text = ""  # the text ladder drawn last
        self.redraws = 0
        self._drawn = -1  # how many records the last drawing saw
        self._changed = asyncio.Event()
        self.add_class("siplab-ladder")
        self.header = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self.view: widgets.DOMWidget = (widgets.HTML() if kind == "text" else
                                        widgets.Image(format="png"))
        self.view.add_class("siplab-ladder-view")
        self.children = [self.header, self.view]
        self.redraw()
        self._task: asyncio.Task[None] | None = self._loop.create_task(self._follow())

    def __repr__(self) -> str:
        return f"<LiveLadder {len(self.rows)} messages, {self.redraws} redraws>"

    @property
    def labels(self) -> list[str]:
        """The labels of the messages drawn last: ``["INVITE", "100 Trying", ...]``."""
        return [row.label for row in self.rows]

    def redraw(self) -> None:
        """Draw the trace as it is now."""
        self._drawn = len(self.trace.records)
        self.rows = flow(self.trace)
        shown = self.rows[-self.max_messages:]
        if self.kind == "text":
            self.text = self._text(shown)
            self.view.value = ('<pre class="siplab-ladder-text" style="font-size:11px;'
                               'line-height:1.25;margin:0;overflow-x:auto">'
                               f"{html.escape(self.text)}</pre>")
        elif shown:
            self.view.value = self._png(shown)
        self.redraws += 1
        self._changed.set()

    def _text(self, rows: list[FlowRow]) -> str:
        from siplab.lab.ladder_text import text_ladder

        if not rows:
            return "(no SIP message yet)"
        skipped = len(self.rows) - len(rows)
        note = f"({skipped} earlier messages not shown)\n" if skipped else ""
        return note + text_ladder(rows, names=self.names, rtp=False)

    def _png(self, rows: list[FlowRow]) -> bytes:
        from siplab.lab.ladder import ladder

        figure = ladder(rows, names=self.names, rtp=False)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()

    async def _follow(self) -> None:
        """Redraw when the trace grew, at most once per ``interval``."""
        while True:
            await asyncio.sleep(self.interval)
            if len(self.trace.records) != self._drawn:
                self.redraw()

    async def wait_until(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` is true, checking after every redraw (bounded)."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{self!r}: not there after {timeout} s; labels "
                               f"{self.labels}") from None

    async def wait_for_labels(self, *wanted: str, timeout: float = 10.0) -> None:
        """Wait until the drawn labels hold ``wanted`` in order (see :func:`contains_in_order`)."""
        await self.wait_until(lambda: contains_in_order(self.labels, wanted), timeout)

    def close(self) -> None:
        """Stop redrawing and close the widget (the trace stays attached)."""
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                task.cancel()
        super().close()
