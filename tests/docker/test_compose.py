"""docker/compose.yml: a class's lab and Kamailio, consistent with what they read.

No Docker engine runs here, so ``docker compose config`` cannot check the file;
these tests read it with PyYAML and check it against the files it depends on:

* the Kamailio service sets only variables ``kamailio.cfg`` reads
  (``#!trydefenv``), publishes exactly the ports the configuration listens on,
  and runs the configuration its image copies, which is the file the interop
  tests run (``tests/interop/kamailio.py``);
* the lab service sets only variables something in the lab reads (its start
  script, siplab) or that INSTRUCTORS.md documents for notebooks, and those
  name the Kamailio service by its address, ports, domain and password;
* every published port is on ``${SIPLAB_BIND:-127.0.0.1}``: this machine only,
  unless an instructor says otherwise.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import pytest

from siplab.aio.server_url import parse_transport_url
from siplab.lab import phone_server
from tests.docker.dockerfile import (
    LAB_DOCKERFILE,
    ROOT,
    exposed_ports,
    parse_copy,
    read_instructions,
)

yaml = pytest.importorskip("yaml")

DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yml"
KAMAILIO_DIR = DOCKER / "kamailio"
KAMAILIO_CFG = KAMAILIO_DIR / "kamailio.cfg"
INSTRUCTORS = DOCKER / "INSTRUCTORS.md"
#: Where the lab's own code reads its environment.
LAB_READERS = [DOCKER / "start-lab.sh", *sorted((ROOT / "siplab").rglob("*.py"))]
#: Variables for notebooks (not read by siplab itself): checked against Kamailio below.
CLASS_VARIABLES = {"SIPLAB_CLASS_SERVER", "SIPLAB_CLASS_WS", "SIPLAB_CLASS_DOMAIN",
                   "SIPLAB_CLASS_PASSWORD"}
LOOPBACK_BIND = "${SIPLAB_BIND:-127.0.0.1}"


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"compose.yml has no {name} service"
    return dict(services[name])


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    if isinstance(env, list):  # the KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def cfg_settings() -> tuple[dict[str, str], dict[str, str]]:
    """kamailio.cfg's settings: environment variable -> define, and define -> default."""
    text = KAMAILIO_CFG.read_text(encoding="utf-8")
    variables = {env: define for define, env in
                 re.findall(r"^#!trydefenvs? (\w+)=(\w+)$", text, re.M)}
    defaults = dict(re.findall(r"^#!trydef (\w+) (\S+)$", text, re.M))
    return variables, defaults


def kamailio_ports() -> dict[str, int]:
    """UDP_PORT, TCP_PORT, WS_PORT as the compose service runs them."""
    variables, defaults = cfg_settings()
    env = environment("kamailio")
    by_define = {define: env[variable] for variable, define in variables.items() if variable in env}
    return {name: int(by_define.get(name, defaults[name]))
            for name in ("UDP_PORT", "TCP_PORT", "WS_PORT")}


def published(name: str) -> list[tuple[str, int, int, str]]:
    """(bind address, host port, container port, protocol) of a service's ports."""
    result = []
    for entry in service(name).get("ports", []):
        text, _, protocol = str(entry).partition("/")
        bind, host_port, container_port = text.rsplit(":", 2)
        result.append((bind, int(host_port), int(container_port), protocol or "tcp"))
    return result


# --- Kamailio --------------------------------------------------------------------------


def test_compose_file_is_consistent() -> None:
    """The file parses, has both services on one network, the lab waits for a healthy
    Kamailio, and every build points at a Dockerfile that exists."""
    data = compose()
    assert set(data["services"]) == {"lab", "kamailio"}
    for name in ("lab", "kamailio"):
        assert service(name).get("networks") == ["class"]
        assert "healthcheck" in service(name)
    assert "class" in data["networks"]
    assert service("lab")["depends_on"]["kamailio"]["condition"] == "service_healthy"
    lab_build = service("lab")["build"]
    assert (DOCKER / lab_build["context"]).resolve() == ROOT
    assert (ROOT / lab_build["dockerfile"]).resolve() == LAB_DOCKERFILE
    assert (DOCKER / service("kamailio")["build"] / "Dockerfile").is_file()


def test_kamailio_service_sets_only_variables_its_configuration_reads() -> None:
    variables, _ = cfg_settings()
    assert "KAMAILIO_PASSWORD" in variables  # the parser found the table
    env = environment("kamailio")
    unknown = set(env) - set(variables)
    assert not unknown, f"kamailio.cfg reads no {sorted(unknown)}"
    # The default 127.0.0.1 would be unreachable from the lab and the published ports.
    assert env["KAMAILIO_LISTEN_IP"] != "127.0.0.1"
    # The password comes from the instructor, never a default written here.
    assert env["KAMAILIO_PASSWORD"].startswith("${SIPLAB_CLASS_PASSWORD:?")


def test_kamailio_ports_are_the_ones_its_configuration_listens_on() -> None:
    ports = kamailio_ports()
    expected = {(ports["UDP_PORT"], "udp"), (ports["TCP_PORT"], "tcp"), (ports["WS_PORT"], "tcp")}
    assert {(c, proto) for _, _, c, proto in published("kamailio")} == expected
    assert {(h, proto) for _, h, _, proto in published("kamailio")} == expected
    assert exposed_ports(KAMAILIO_DIR / "Dockerfile") == {f"{p}/{proto}" for p, proto in expected}
    assert ports == {"UDP_PORT": 5060, "TCP_PORT": 5060, "WS_PORT": 8080}  # cfg defaults


def test_kamailio_image_runs_the_configuration_the_interop_tests_run() -> None:
    """The image copies docker/kamailio/kamailio.cfg, unchanged, and runs that copy."""
    from tests.interop.kamailio import CONFIG

    instructions = read_instructions(KAMAILIO_DIR / "Dockerfile")
    copies = [parse_copy(i) for i in instructions if i.keyword == "COPY"]
    (cfg_copy,) = [c for c in copies if c.sources == ("kamailio.cfg",)]
    assert (KAMAILIO_DIR / cfg_copy.sources[0]).resolve() == CONFIG.resolve() == KAMAILIO_CFG
    (cmd,) = [i.arguments for i in instructions if i.keyword == "CMD"]
    command = yaml.safe_load(cmd)  # the exec form is a JSON (so YAML) list
    assert command[:3] == ["kamailio", "-DD", "-E"]
    assert command[command.index("-f") + 1] == cfg_copy.destination
    # The health check compose runs is the script the image installs.
    (check_copy,) = [c for c in copies if c.sources == ("healthcheck.sh",)]
    assert service("kamailio")["healthcheck"]["test"] == [
        "CMD", PurePosixPath(check_copy.destination).name]
    assert check_copy.destination.startswith("/usr/local/bin/")


def test_every_port_is_published_on_loopback_unless_the_instructor_binds_it() -> None:
    for name in ("lab", "kamailio"):
        for bind, *_ in published(name):
            assert bind == LOOPBACK_BIND, f"{name} publishes on {bind}"


# --- the lab ---------------------------------------------------------------------------------


def _documented_variables() -> set[str]:
    return set(re.findall(r"`(SIPLAB_[A-Z_]+)`", INSTRUCTORS.read_text(encoding="utf-8")))


def test_lab_service_sets_only_variables_the_lab_reads() -> None:
    env = environment("lab")
    documented = _documented_variables()
    readers = "\n".join(path.read_text(encoding="utf-8") for path in LAB_READERS)
    for name in env:
        assert name in documented, f"{name} is not documented in docker/INSTRUCTORS.md"
        assert name in readers or name in CLASS_VARIABLES, f"nothing in the lab reads {name}"
    assert phone_server.PHONE_WS_VARIABLE in env
    assert env["SIPLAB_TOKEN"].startswith("${SIPLAB_TOKEN:?")  # required, never a default


def test_lab_class_variables_name_the_kamailio_service() -> None:
    """What a notebook passes to UserAgent(transport=...) parses, and reaches the
    Kamailio service: its name, its ports, its domain, its password."""
    env, kamailio = environment("lab"), environment("kamailio")
    ports = kamailio_ports()
    assert set(env) >= CLASS_VARIABLES

    server = parse_transport_url(env["SIPLAB_CLASS_SERVER"])
    assert (server.transport, server.host, server.port) == ("udp", "kamailio", ports["UDP_PORT"])
    ws = parse_transport_url(env["SIPLAB_CLASS_WS"])
    assert (ws.transport, ws.host, ws.port, ws.path) == ("ws", "kamailio", ports["WS_PORT"], "/")
    # The domain of sip:alice@<domain> is one Kamailio calls its own (alias=SIP_DOMAIN).
    assert env["SIPLAB_CLASS_DOMAIN"] == kamailio["KAMAILIO_SIP_DOMAIN"]
    assert env["SIPLAB_CLASS_PASSWORD"] == kamailio["KAMAILIO_PASSWORD"]
    # The browser reaches Kamailio through the published WebSocket port.
    phone = parse_transport_url(env["SIPLAB_PHONE_WS"].replace("${SIPLAB_PUBLIC_HOST:-", "")
                                .replace("}", ""))
    assert phone.port in {h for _, h, c, _ in published("kamailio") if c == ports["WS_PORT"]}


def test_lab_service_publishes_the_image_port_and_checks_its_health() -> None:
    ((_, _, container_port, protocol),) = published("lab")
    assert f"{container_port}/{protocol}" in exposed_ports(LAB_DOCKERFILE)
    check = " ".join(service("lab")["healthcheck"]["test"])
    assert f"http://127.0.0.1:{container_port}/api" in check


@pytest.mark.parametrize("path", ["docker/INSTRUCTORS.md", "docker/README.md"])
def test_guides_name_the_files_that_exist(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    for name in re.findall(r"`((?:docker|scripts|web|notebooks)/[\w./-]+)`", text):
        if PurePosixPath(name).name.startswith("."):
            continue  # docker/.env: the instructor writes it
        assert (ROOT / name.rstrip("/")).exists(), f"{path} names {name}, which does not exist"
    folders = [ROOT, DOCKER, KAMAILIO_DIR, ROOT / "scripts"]
    for name in re.findall(r"`([\w-]+\.(?:sh|yml|md|cfg))`", text):
        assert any((folder / name).exists() for folder in folders), (
            f"{path} names {name}, which does not exist")
