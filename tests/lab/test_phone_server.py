"""``siplab.lab.phone_server``: the browser phone (web/) over HTTP, alone or via Jupyter.

The page (``web/phone.html``), its script and the two bundled SIP stacks are
served byte for byte on 127.0.0.1, and nothing else from the repository; ``/``
redirects to the page. jupyter-server-proxy finds the server through the
``jupyter_serverproxy_servers`` entry point, runs its command on a port it
picks and serves it at ``<Jupyter URL>/siplab-phone/``: the last test does that
with a real Jupyter server, as Binder and the lab image do.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from siplab.lab import phone_server
from siplab.lab.phone_server import (
    PROXY_NAME,
    PhoneServer,
    find_web_dir,
    jupyter_server_proxy_config,
    make_server,
    redirect_target,
)

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
#: Every file phone.html loads, as the browser asks for it.
PAGE_FILES = {"/phone.html": WEB / "phone.html", "/phone.js": WEB / "phone.js",
              "/dist/jssip.bundle.js": WEB / "dist" / "jssip.bundle.js",
              "/dist/sipjs.bundle.js": WEB / "dist" / "sipjs.bundle.js"}
#: Seconds a server may take to start answering.
START_TIMEOUT = 60.0


def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture
def served() -> Iterator[PhoneServer]:
    server = make_server(phone_ws="ws://lab.example.org:8080/", quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def port_of(server: PhoneServer) -> int:
    return int(server.server_address[1])


def test_phone_server_serves_the_page_and_the_bundles(served: PhoneServer) -> None:
    assert served.server_address[0] == "127.0.0.1"
    types = {".html": "text/html", ".js": "javascript"}
    for path, file in PAGE_FILES.items():
        status, headers, body = get(port_of(served), path)
        assert status == 200, path
        assert body == file.read_bytes(), path
        assert types[file.suffix] in headers["content-type"]
        assert headers["cache-control"] == "no-cache"


def test_head_answers_like_get_without_the_body(served: PhoneServer) -> None:
    status, headers, body = get(port_of(served), "/phone.js", method="HEAD")
    assert status == 200
    assert body == b""
    assert int(headers["content-length"]) == (WEB / "phone.js").stat().st_size


def test_root_redirects_to_the_page_with_the_class_websocket(served: PhoneServer) -> None:
    status, headers, _ = get(port_of(served), "/")
    assert status == 302
    assert headers["location"] == "phone.html?ws=ws%3A%2F%2Flab.example.org%3A8080%2F"
    # The request's own query passes through, a ws= of its own wins, a token does not.
    status, headers, _ = get(port_of(served), "/?lib=sipjs&ws=ws://other:80/&token=secret")
    assert status == 302
    assert headers["location"] == "phone.html?lib=sipjs&ws=ws%3A%2F%2Fother%3A80%2F"


def test_redirect_target_without_a_configured_websocket() -> None:
    assert redirect_target("", None) == "phone.html"
    assert redirect_target("lib=sipjs&debug", None) == "phone.html?lib=sipjs&debug="


@pytest.mark.parametrize("path", [
    "/package.json", "/package-lock.json", "/build.mjs", "/node_modules/jssip/package.json",
    "/dist/", "/dist", "/../pyproject.toml", "/%2e%2e/pyproject.toml", "/phone.html/",
])
def test_phone_server_refuses_everything_else(served: PhoneServer, path: str) -> None:
    status, _, body = get(port_of(served), path)
    assert status == 404
    assert b"phone.html" in body  # says what it does serve


def test_a_folder_without_the_page_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="SIPLAB_WEB_DIR"):
        find_web_dir(tmp_path)
    (tmp_path / "phone.html").write_text("<p>a test page</p>")
    assert find_web_dir(tmp_path) == tmp_path


def run_until_serving(command: list[str], env: dict[str, str] | None = None
                      ) -> tuple[subprocess.Popen[str], str]:
    """Start the command line, return it and its first line ("serving http://...")."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env, start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # printed before serving; bounded by the test timeout
    return process, line


def stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_command_line_serves_on_the_port_it_prints() -> None:
    process, line = run_until_serving(
        [sys.executable, "-m", "siplab.lab.phone_server", "--port", "0", "--quiet"])
    try:
        assert line.startswith("siplab phone: serving http://127.0.0.1:"), line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        status, _, body = get(port, "/phone.html")
        assert status == 200
        assert body == PAGE_FILES["/phone.html"].read_bytes()
    finally:
        stop(process)


def test_command_line_check_lists_the_files() -> None:
    result = subprocess.run([sys.executable, "-m", "siplab.lab.phone_server", "--check"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    listed = sorted(line.split(" -> ")[0] for line in result.stdout.splitlines())
    assert listed == sorted(PAGE_FILES)


# --- jupyter-server-proxy ----------------------------------------------------------------


def test_jupyter_server_proxy_entry_point_is_registered() -> None:
    """pyproject.toml registers siplab-phone; it loads and returns a config the proxy accepts."""
    (entry,) = entry_points(group="jupyter_serverproxy_servers", name=PROXY_NAME)
    assert entry.value == "siplab.lab.phone_server:jupyter_server_proxy_config"
    factory = entry.load()
    assert factory is jupyter_server_proxy_config
    config = factory()
    assert config["command"][:3] == [sys.executable, "-m", phone_server.__name__]
    assert "{port}" in config["command"]

    proxy = pytest.importorskip("jupyter_server_proxy.config")
    process = proxy.ServerProcess(name=entry.name, **config)  # what the proxy itself does
    assert process.launcher_entry.path_info == f"{PROXY_NAME}/"
    handler, _ = process.make_proxy_handler()
    assert handler is not None


def test_the_proxy_command_serves_the_page_on_the_port_it_is_given() -> None:
    with socket.socket() as probe:  # how jupyter-server-proxy picks the port
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    template = jupyter_server_proxy_config()["command"]
    command = [part.replace("{port}", str(port)) for part in template]
    process, line = run_until_serving(command)
    try:
        assert f":{port}/" in line
        status, _, body = get(port, "/dist/jssip.bundle.js")
        assert status == 200
        assert body == PAGE_FILES["/dist/jssip.bundle.js"].read_bytes()
    finally:
        stop(process)


@pytest.mark.slow
def test_jupyter_server_serves_the_phone_at_siplab_phone(tmp_path: Path) -> None:
    """A real Jupyter server with jupyter-server-proxy: /siplab-phone/ starts the phone
    server and forwards the page, behind Jupyter's token."""
    pytest.importorskip("jupyter_server_proxy")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter", "server", "--ip=127.0.0.1", f"--port={port}",
               "--port-retries=0", "--no-browser", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={tmp_path}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "SIPLAB_PHONE_WS": ""}
    log = tmp_path / "jupyter.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, log.read_text()
            try:
                get(port, "/api")
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        # No token, no phone: Jupyter sends the browser to its login page.
        status, headers, _ = get(port, f"/{PROXY_NAME}/phone.html")
        assert status == 302
        assert "/login" in headers["location"]
        status, headers, _ = get(port, f"/{PROXY_NAME}/?token={token}")
        assert status == 302, log.read_text()
        assert headers["location"] == "phone.html"
        for path, file in PAGE_FILES.items():
            status, _, body = get(port, f"/{PROXY_NAME}{path}?token={token}")
            assert status == 200, path
            assert body == file.read_bytes(), path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
