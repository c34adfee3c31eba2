"""Reading matplotlib figures back from their artists (not their pixels), for the tests.

siplab's drawings give every artist a ``gid`` saying what it is
(``message-label``, ``lifeline-name``, ``edge:Calling->Proceeding``...), so a
test can ask "which arrows, in which order, in which colour" directly.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Annotation, Text

__all__ = ["texts", "artists", "arrow_annotations", "arrow_colour", "arrow_style", "figure_data"]


def artists(figure: Figure, gid: str | None = None, prefix: str | None = None) -> list[Any]:
    """Every artist of the figure's axes whose gid is ``gid`` (or starts with ``prefix``)."""
    found = []
    for axes in figure.axes:
        for artist in axes.get_children():
            name = artist.get_gid()
            if name is None:
                continue
            if (gid is not None and name == gid) or (prefix is not None and
                                                       name.startswith(prefix)):
                found.append(artist)
    return found


def texts(figure: Figure, gid: str) -> list[str]:
    """The strings of the Text artists with that gid, in drawing order."""
    return [a.get_text() for a in artists(figure, gid) if isinstance(a, Text)]


def arrow_annotations(figure: Figure, gid: str = "message") -> list[Annotation]:
    return [a for a in artists(figure, gid) if isinstance(a, Annotation)]


def arrow_colour(arrow: Annotation) -> object:
    assert arrow.arrow_patch is not None
    return arrow.arrow_patch.get_edgecolor()


def arrow_style(arrow: Annotation) -> object:
    assert arrow.arrow_patch is not None
    return arrow.arrow_patch.get_linestyle()


def figure_data(figure: Figure) -> list[tuple[Any, ...]]:
    """What the figure shows, as plain values: enough to tell two drawings apart."""
    out: list[tuple[Any, ...]] = [tuple(figure.get_size_inches())]
    for legend in figure.legends:
        out.append(("legend", tuple(t.get_text() for t in legend.get_texts())))
    for axes in figure.axes:
        out.append(("ylim", axes.get_ylim(), "xlim", axes.get_xlim()))
        out.append(("yticks", tuple(axes.get_yticks()),
                    tuple(t.get_text() for t in axes.get_yticklabels())))
        for artist in axes.get_children():
            kind = type(artist).__name__
            if isinstance(artist, Annotation):
                patch = artist.arrow_patch
                out.append((kind, artist.get_gid(), artist.xy, artist.xyann,
                            None if patch is None else (patch.get_edgecolor(),
                                                        patch.get_linestyle())))
            elif isinstance(artist, Text):
                out.append((kind, artist.get_gid(), artist.get_text(), artist.get_position(),
                            artist.get_color()))
            elif isinstance(artist, Line2D):
                out.append((kind, artist.get_gid(), repr(artist.get_xydata()),
                            artist.get_color()))
            elif isinstance(artist, Patch):
                out.append((kind, artist.get_gid(), artist.get_extents().bounds,
                            artist.get_facecolor()))
    return out
