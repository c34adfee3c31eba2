"""Helpers shared by the tests: readable SIP fixtures and real-peer lookup."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest

__all__ = ["crlf", "require_peer"]


def crlf(text: str) -> bytes:
    """Turn a readable, indented fixture into wire bytes.

    The text is dedented, one leading newline is dropped, every LF becomes
    CRLF and the result is UTF-8 encoded. An empty line between the headers
    and the body becomes SIP's CRLF blank line::

        crlf('''
            OPTIONS sip:bob@example.com SIP/2.0
            Content-Length: 0

        ''')
    """
    text = textwrap.dedent(text)
    text = text.removeprefix("\n")
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def compiled_core_env() -> dict[str, str]:
    """The environment for a server process that runs the mypyc-compiled core.

    The benchmark's LabServer runs the compiled core (siplab.compiled_core),
    so a test held to the benchmark's rates runs it too. Outside CI a missing
    build skips the test, saying how to make it; in CI it fails, because
    scripts/install.sh builds it.
    """
    from siplab.compiled_core import is_built

    if not is_built():
        message = "needs the compiled core: python -m siplab.compiled_core build"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: scripts/install.sh should have built it)")
        pytest.skip(message)
    return {**os.environ, "SIPLAB_COMPILED": "1"}


def require_peer(binary: str, package: str) -> str:
    """Return the path of a real peer's ``binary``, or end the test without it.

    Outside CI a missing peer skips the test with a message naming the Debian
    package that provides it; in CI (``CI=true``, set by ``.ci/run``) it fails,
    because scripts/install.sh should have installed it.
    """
    path = shutil.which(binary)
    if path is not None:
        return path
    message = f"needs {binary}: apt-get install {package}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: scripts/install.sh should have installed it)")
    pytest.skip(message)
