"""The browser phone over HTTP: ``web/phone.html``, its script and the SIP libraries.

A browser cannot open UDP or TCP sockets, so a phone in a web page speaks SIP
over a WebSocket (RFC 7118) and sends its audio with WebRTC. siplab's browser
phone is ``web/phone.html`` with ``web/phone.js`` and two bundled SIP stacks,
JsSIP and SIP.js (``web/dist/``). This module serves exactly those files, and
nothing else from the repository, with the standard library's ``http.server``::

    python -m siplab.lab.phone_server --port 8000     # http://127.0.0.1:8000/

It listens on 127.0.0.1 only. A page needs a *secure context* for the
microphone (``getUserMedia``) and for WebRTC: ``http://127.0.0.1`` is one, and
so is an ``https://`` page; ``http://`` from another machine is not.

Where it runs:

* **on a laptop**: by hand, as above, next to ``bash scripts/lab.sh``;
* **in JupyterLab, on Binder or JupyterHub**: jupyter-server-proxy starts it on
  the first visit to ``<your Jupyter URL>/siplab-phone/`` and forwards the page
  through Jupyter's own (``https://``) address. siplab registers it with the
  proxy through the ``jupyter_serverproxy_servers`` entry point in
  ``pyproject.toml``, which names :func:`jupyter_server_proxy_config`.

``/`` redirects to ``phone.html`` (``?lib=sipjs`` and the page's other query
parameters pass through). When the ``SIPLAB_PHONE_WS`` environment variable is
set, for example to a class Kamailio's ``ws://lab.example.org:8080/`` by
``docker/compose.yml``, the redirect fills the page's Server field with it.
The SIP server's WebSocket is never proxied here: the page connects to it
directly.

Layer 4 (``siplab.lab``): standard library only, no asyncio.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = [
    "PROXY_NAME",
    "WEB_DIR_VARIABLE",
    "PHONE_WS_VARIABLE",
    "find_web_dir",
    "page_files",
    "PhoneServer",
    "PhoneRequestHandler",
    "make_server",
    "redirect_target",
    "jupyter_server_proxy_config",
    "main",
]

#: The name jupyter-server-proxy mounts the phone under: ``<Jupyter URL>/siplab-phone/``.
PROXY_NAME = "siplab-phone"
#: Serve ``web/`` from this directory instead of the one next to the package.
WEB_DIR_VARIABLE = "SIPLAB_WEB_DIR"
#: The SIP server's WebSocket URL the page is pre-filled with (``ws://host:8080/``).
PHONE_WS_VARIABLE = "SIPLAB_PHONE_WS"
#: Seconds jupyter-server-proxy waits for the server to answer its first request.
PROXY_START_TIMEOUT = 20.0

_PAGE = "phone.html"
_SCRIPT = "phone.js"
_BUNDLES = "dist"


def find_web_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The folder with ``phone.html``: ``directory``, else ``$SIPLAB_WEB_DIR``, else
    the repository's ``web/`` beside the ``siplab`` package (an editable install, as
    ``scripts/install.sh``, the lab image and Binder make)."""
    if directory is None:
        directory = os.environ.get(WEB_DIR_VARIABLE) or Path(__file__).resolve().parents[2] / "web"
    web_dir = Path(directory)
    if not (web_dir / _PAGE).is_file():
        raise FileNotFoundError(
            f"no {_PAGE} in {web_dir}: the browser phone lives in the repository's web/ "
            f"folder; install siplab from a checkout (pip install -e .) or set "
            f"{WEB_DIR_VARIABLE}")
    return web_dir


def page_files(web_dir: Path) -> dict[str, Path]:
    """URL path -> file, for every file the phone page loads and nothing else.

    An allow-list, not a directory listing: ``web/`` also holds ``node_modules/``,
    ``package.json`` and the build script, which a browser has no business reading.
    """
    files = {f"/{_PAGE}": web_dir / _PAGE, f"/{_SCRIPT}": web_dir / _SCRIPT}
    for bundle in sorted((web_dir / _BUNDLES).glob("*.js")):
        files[f"/{_BUNDLES}/{bundle.name}"] = bundle
    return {path: file for path, file in files.items() if file.is_file()}


def redirect_target(query: str, phone_ws: str | None) -> str:
    """Where ``/`` sends the browser: ``phone.html`` with the request's own query (less
    a Jupyter ``token``), plus ``ws=`` (the Server field) when a WebSocket URL is
    configured and the query has none.

    The target is relative ("phone.html?..."), so it stays under whatever prefix a
    proxy put in front (``/user/alice/siplab-phone/``).
    """
    # Jupyter's token may arrive here through the proxy: it is Jupyter's
    # credential, not the page's, and stays out of the page's address.
    params = [(name, value) for name, value in parse_qsl(query, keep_blank_values=True)
              if name != "token"]
    if phone_ws and not any(name == "ws" for name, _ in params):
        params.append(("ws", phone_ws))
    return _PAGE + (f"?{urlencode(params)}" if params else "")


class PhoneServer(ThreadingHTTPServer):
    """An HTTP server that knows the phone's files and the WebSocket URL to suggest."""

    daemon_threads = True  # a browser's idle keep-alive connection never blocks a stop

    def __init__(self, address: tuple[str, int], files: dict[str, Path],
                 phone_ws: str | None = None, *, quiet: bool = False) -> None:
        super().__init__(address, PhoneRequestHandler)
        self.files = files
        self.phone_ws = phone_ws
        self.quiet = quiet

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"


class PhoneRequestHandler(SimpleHTTPRequestHandler):
    """GET and HEAD for the allow-listed files; ``/`` redirects to the page; 404 otherwise."""

    server: PhoneServer

    def send_head(self) -> BinaryIO | None:
        parts = urlsplit(self.path)
        if parts.path == "/":
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", redirect_target(parts.query, self.server.phone_ws))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        file = self.server.files.get(parts.path)
        if file is None:
            self.send_error(HTTPStatus.NOT_FOUND, "the phone serves phone.html, phone.js, dist/")
            return None
        body = file.open("rb")
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", self.guess_type(str(file)))
        self.send_header("Content-Length", str(file.stat().st_size))
        # The files change when someone edits or rebuilds them: always revalidate.
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        return body

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path without its query: a query may carry the Jupyter token.
        self.log_message('"%s %s" %s %s', self.command, urlsplit(self.path).path,
                         int(code) if isinstance(code, HTTPStatus) else code, size)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def make_server(host: str = "127.0.0.1", port: int = 0, *,
                web_dir: str | os.PathLike[str] | None = None, phone_ws: str | None = None,
                quiet: bool = False) -> PhoneServer:
    """A bound, not yet serving, :class:`PhoneServer` (port 0: one the system picks).

    ``phone_ws`` defaults to ``$SIPLAB_PHONE_WS``. Call ``serve_forever()`` (in a
    thread, if you need the caller back), then ``shutdown()`` and ``server_close()``.
    """
    if phone_ws is None:
        phone_ws = os.environ.get(PHONE_WS_VARIABLE) or None
    return PhoneServer((host, port), page_files(find_web_dir(web_dir)), phone_ws, quiet=quiet)


def jupyter_server_proxy_config() -> dict[str, Any]:
    """How jupyter-server-proxy runs the phone: its ``jupyter_serverproxy_servers`` entry.

    The proxy picks a free port, puts it where ``{port}`` is, starts the command on
    the first request to ``/siplab-phone/`` and forwards to ``localhost:{port}``.
    """
    return {
        "command": [sys.executable, "-m", "siplab.lab.phone_server", "--port", "{port}"],
        "timeout": PROXY_START_TIMEOUT,
        "new_browser_tab": True,  # a phone in its own tab, like a real softphone window
        "launcher_entry": {"title": "siplab phone", "category": "Other"},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m siplab.lab.phone_server [--port N] [--web-dir DIR] [--check]``."""
    parser = argparse.ArgumentParser(
        prog="python -m siplab.lab.phone_server",
        description="Serve siplab's browser phone (web/phone.html) on 127.0.0.1.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--web-dir", help=f"the web/ folder (default: ${WEB_DIR_VARIABLE} or "
                                          "the repository's)")
    parser.add_argument("--check", action="store_true",
                        help="list the files it would serve and exit (Binder's postBuild)")
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    args = parser.parse_args(argv)
    try:
        if args.check:
            files = page_files(find_web_dir(args.web_dir))
            for path, file in files.items():
                print(f"{path} -> {file}")
            if not any(path.startswith(f"/{_BUNDLES}/") for path in files):
                print(f"error: no bundles in {_BUNDLES}/", file=sys.stderr)
                return 1
            return 0
        server = make_server(args.host, args.port, web_dir=args.web_dir, quiet=args.quiet)
    except (FileNotFoundError, OSError) as error:
        print(f"siplab phone: error: {error}", file=sys.stderr)
        return 1
    print(f"siplab phone: serving {server.url}phone.html (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
