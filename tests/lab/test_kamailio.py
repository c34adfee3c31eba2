"""A notebook finds its Kamailio: the class's from the environment, or a private one it starts.

:mod:`siplab.lab.kamailio` gives notebook 08 one of two servers with the same
three things (a transport URL, ``aor(name)``, the password):

* :func:`class_server` reads ``SIPLAB_CLASS_*`` (docker/INSTRUCTORS.md) and
  prefixes the user names with the student's, so a shared server keeps the
  class's users apart;
* :func:`start_kamailio` runs ``docker/kamailio/kamailio.cfg`` on free
  loopback ports, answers OPTIONS before it returns, and registers siplab's
  phones with digest (RFC 3261 §10.3, §22): 200 with the right password, 403
  with a wrong one; ``stop()`` ends the process.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from siplab.aio.errors import RegistrationError
from siplab.aio.useragent import UserAgent
from siplab.lab.kamailio import (
    ClassServer,
    KamailioError,
    class_server,
    find_kamailio,
    start_kamailio,
)

CLASS_ENV = {
    "SIPLAB_CLASS_SERVER": "udp://kamailio:5060",
    "SIPLAB_CLASS_WS": "ws://kamailio:8080/",
    "SIPLAB_CLASS_DOMAIN": "kamailio",
    "SIPLAB_CLASS_PASSWORD": "class-secret",
    "JUPYTERHUB_USER": "ada.l",
}


def require_kamailio() -> None:
    if find_kamailio() is not None:
        return
    message = "needs kamailio: apt-get install kamailio kamailio-websocket-modules"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_class_server_is_none_without_the_environment() -> None:
    assert class_server({}) is None


def test_class_server_reads_the_instructors_variables() -> None:
    server = class_server(CLASS_ENV)
    assert server == ClassServer("udp://kamailio:5060", "kamailio", "class-secret",
                                 "ws://kamailio:8080/", "ada.l")
    assert server.aor("alice") == "sip:ada.l-alice@kamailio"
    assert server.user("bob") == "ada.l-bob"
    assert "class-secret" not in repr(server)


def test_class_server_takes_the_domain_from_the_transport_when_unset() -> None:
    env = {k: v for k, v in CLASS_ENV.items() if k != "SIPLAB_CLASS_DOMAIN"}
    server = class_server(env)
    assert server is not None
    assert server.domain == "kamailio:5060"


def test_class_server_without_a_password_says_so() -> None:
    env = {k: v for k, v in CLASS_ENV.items() if k != "SIPLAB_CLASS_PASSWORD"}
    with pytest.raises(KamailioError, match="SIPLAB_CLASS_PASSWORD"):
        class_server(env)


def test_private_kamailio_registers_a_phone_and_refuses_a_wrong_password(
        tmp_path: Path) -> None:
    require_kamailio()
    kamailio = start_kamailio("lab-password", directory=tmp_path)

    async def register(password: str) -> None:
        async with UserAgent(kamailio.aor("alice"), password,
                             transport=kamailio.transport) as alice:
            await alice.register(timeout=5)

    try:
        assert kamailio.running
        assert kamailio.aor("alice") == f"sip:alice@127.0.0.1:{kamailio.udp.port}"
        asyncio.run(register("lab-password"))
        with pytest.raises(RegistrationError) as refused:
            asyncio.run(register("not-the-password"))
        assert refused.value.status == 403
        assert kamailio.log_lines("REGISTER"), kamailio.explain()
    finally:
        kamailio.stop()
    assert not kamailio.running
