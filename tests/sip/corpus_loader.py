"""The SIP message corpus: realistic messages as they appear on the wire.

``tests/sip/corpus/`` holds one message per ``.txt`` file, written with LF line
endings so that it reads well in an editor and diffs cleanly. On the wire SIP
uses CRLF everywhere, in the body too (SDP lines end in CRLF, RFC 4566 §5), so
:func:`load_corpus` turns every LF into CRLF, and nothing else: the
``Content-Length`` written in each file is already the length of the body
*after* that conversion, and a test checks it. Each file is named after what it
is and where it comes from (``invite_from_baresip``, ``register_from_jssip_ws``,
``invite_with_sdp_and_record_route`` for an RFC 3665 §3.2-like call through a
proxy).

The call through the proxy is one story told across several files: the
INVITE, ``100_trying``, ``180_ringing``, ``200_ok_with_sdp``, ``ack``,
``info_dtmf``, ``refer``, ``bye`` and (for the other ending) ``cancel`` and
``487_request_terminated`` share a Call-ID and tags. Likewise
``401_www_authenticate``, ``register_with_authorization`` and ``200_ok_register``
are one registration; the Authorization's digest ``response`` is the real
RFC 7616 MD5 value for user ``alice``, password ``secret``.

This module uses only the standard library, so that benchmarks
(``bench/parse.py``) can import it without siplab or pytest.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CORPUS_DIR", "load_corpus"]

#: Where the ``.txt`` messages live.
CORPUS_DIR = Path(__file__).resolve().parent / "corpus"


def load_corpus() -> dict[str, bytes]:
    """Every corpus message as wire bytes, keyed by file name without ``.txt``.

    The files are read in name order; LF becomes CRLF throughout (headers and
    body) and nothing is recomputed.
    """
    return {
        path.stem: path.read_bytes().replace(b"\n", b"\r\n")
        for path in sorted(CORPUS_DIR.glob("*.txt"))
    }
