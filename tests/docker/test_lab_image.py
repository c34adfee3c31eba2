"""The lab image (docker/Dockerfile), proved without a Docker engine.

No Docker engine runs where the tests run, so these tests replay the build:
the ``COPY`` instructions into a temporary folder standing for the image's
``WORKDIR``, then the very ``RUN`` command that calls ``scripts/install.sh``,
with the variables the Dockerfile gives it (``SIPLAB_APT_PACKAGES``,
``SIPLAB_PIP_EXTRAS``) and a fresh virtualenv, then the ``COPY`` instructions
after it. What a build does and this replay cannot is checked separately:
that the Dockerfile's Debian packages exist in bookworm (apt), and the parts
of the Dockerfile around the install (base image, user, port, start command).

The replayed "image" then runs its own start command (JupyterLab with a token,
the browser phone behind jupyter-server-proxy) and Binder's postBuild checks.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker.dockerfile import (
    LAB_DOCKERFILE,
    ROOT,
    InstallStep,
    exposed_ports,
    install_step,
    parse_copy,
    read_instructions,
    replay_copies,
    repository_files,
)

#: The whole install (fresh venv, pip from its cache) must finish within this.
INSTALL_TIMEOUT = 280.0
#: JupyterLab must answer /api within this after its start command.
LAB_START_TIMEOUT = 60.0
#: The lab's JupyterLab port (EXPOSE).
LAB_PORT = "8888/tcp"

@dataclass(frozen=True, slots=True)
class ReplayedImage:
    """The image's /home/lab/siplab, built in a temporary folder."""

    root: Path
    step: InstallStep
    output: str
    seconds: float
    skipped_apt: bool

    @property
    def bin(self) -> Path:
        return self.root / ".venv" / "bin"


def _apt_packages(step: InstallStep) -> list[str]:
    return step.environment.get("SIPLAB_APT_PACKAGES", "").split()


def _missing_debian_packages(names: list[str]) -> list[str]:
    if shutil.which("dpkg-query") is None:
        return names
    missing = []
    for name in names:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name],
                                capture_output=True, text=True, timeout=30, check=False)
        if "install ok installed" not in status.stdout:
            missing.append(name)
    return missing


def _build_environment(step: InstallStep, *, skip_apt: bool) -> dict[str, str]:
    # This machine's environment (pip's index and cache settings, PATH to python3),
    # less anything that would point pip or Python at the project's own .venv.
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIP_USER")}
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p != venv_bin)
    env.update(step.environment)
    if skip_apt:
        env["SIPLAB_SKIP_APT"] = "1"
    return env


@pytest.fixture(scope="module")
def replayed_image(tmp_path_factory: pytest.TempPathFactory) -> ReplayedImage:
    """Replay the Dockerfile's COPY + install RUN + COPY into a temporary folder."""
    step = install_step()
    root = tmp_path_factory.mktemp("lab-image") / "siplab"
    root.mkdir()
    files = repository_files()
    replay_copies(step.copies_before, step.workdir, root, files)
    # The build runs apt as root; here apt may only *check*. When a package is
    # missing, leave apt out (test_dockerfile_apt_packages_exist_in_bookworm
    # checks them) rather than install system packages from a test.
    skip_apt = bool(_missing_debian_packages(_apt_packages(step)))
    started = time.monotonic()
    result = subprocess.run(step.argv, cwd=root, env=_build_environment(step, skip_apt=skip_apt),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=INSTALL_TIMEOUT, check=False)
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    log = root / ".venv" / "pip-install.log"
    if result.returncode != 0:
        pip_log = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        pytest.fail(f"`{step.command}` failed (exit {result.returncode}) after {seconds:.0f} s:\n"
                    f"{output}\n{pip_log}")
    replay_copies(step.copies_after, step.workdir, root, files)
    print(f"\nreplayed `{' '.join(step.argv)}` with {step.environment} in {seconds:.1f} s")
    return ReplayedImage(root, step, output, seconds, skip_apt)


def _run(argv: list[str], cwd: Path | str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          check=False, stdin=subprocess.DEVNULL)


# --- the install step ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_TIMEOUT + 90)
def test_install_script_runs_like_the_dockerfile(replayed_image: ReplayedImage) -> None:
    """`SIPLAB_APT_PACKAGES="sip-tester tshark" SIPLAB_PIP_EXTRAS=lab bash scripts/install.sh`
    in a copy of what the Dockerfile copied makes a venv with the lab and only the lab."""
    image = replayed_image
    assert image.step.argv == ["bash", "scripts/install.sh"]
    assert image.step.environment["SIPLAB_PIP_EXTRAS"] == "lab"
    assert "pip: installing siplab[lab] in editable mode" in image.output
    if image.skipped_apt:
        assert "apt: skipped (SIPLAB_SKIP_APT=1)" in image.output
    else:
        packages = _apt_packages(image.step)
        assert f"apt: all {len(packages)} packages already installed" in image.output
    assert image.seconds < 300, f"the install took {image.seconds:.0f} s"

    python = str(image.bin / "python")
    imports = _run([python, "-c", "import sys, siplab, siplab.lab, jupyterlab, "
                    "jupyter_server_proxy; print('%d.%d' % sys.version_info[:2])"], cwd=image.root)
    assert imports.returncode == 0, imports.stderr
    assert imports.stdout.strip() == "3.11"  # python:3.11-slim-bookworm's Python
    # siplab comes from the copy (editable), not from the project's own checkout.
    where = _run([python, "-c", "import siplab; print(siplab.__file__)"], cwd="/")
    assert Path(where.stdout.strip()).is_relative_to(image.root)

    cli = _run([str(image.bin / "siplab"), "--help"])
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("usage: siplab")

    # SIPLAB_PIP_EXTRAS=lab: the test and bench tools stay out of the image.
    for test_only in ("playwright", "hypothesis", "pyVoIP"):
        code = f"import importlib.util as u; print(u.find_spec({test_only!r}))"
        found = _run([python, "-c", code])
        assert found.stdout.strip() == "None", f"{test_only} is in the lab image"


def test_dockerfile_apt_packages_exist_in_bookworm() -> None:
    """The apt half of the install step, which the replay may skip: every package the
    Dockerfile asks install.sh for has a bookworm candidate and installs (dry run)."""
    step = install_step()
    packages = _apt_packages(step)
    assert packages, "the Dockerfile should name its Debian packages (SIPLAB_APT_PACKAGES)"
    assert "bookworm" in step.base_image
    # A subset of what install.sh installs by default, so CI runs the same peers.
    script = (ROOT / "scripts" / "install.sh").read_text()
    default_list = re.search(r"DEFAULT_APT_PACKAGES=\((.*?)\)", script, re.S)
    assert default_list is not None
    defaults = [line.split("#")[0].strip() for line in default_list.group(1).splitlines()]
    assert set(packages) <= {name for name in defaults if name}

    os_release = Path("/etc/os-release")
    if not os_release.exists() or "VERSION_CODENAME=bookworm" not in os_release.read_text():
        pytest.skip("apt here is not Debian 12 (bookworm), the image's base")
    if shutil.which("apt-get") is None:
        pytest.skip("no apt-get here")
    for package in packages:
        policy = _run(["apt-cache", "policy", package])
        candidate = re.search(r"Candidate:\s*(\S+)", policy.stdout)
        assert candidate is not None, policy.stdout + policy.stderr
        assert candidate.group(1) != "(none)", f"{package}: no candidate in bookworm"
    dry_run = _run(["apt-get", "install", "--dry-run", "-q", *packages],
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert dry_run.returncode == 0, dry_run.stdout + dry_run.stderr


# --- the Dockerfile around the install ---------------------------------------------------


def test_dockerfile_copies_only_files_that_exist() -> None:
    files = set(repository_files())
    for instruction in read_instructions(LAB_DOCKERFILE):
        if instruction.keyword != "COPY":
            continue
        for source in parse_copy(instruction).sources:
            source = source.rstrip("/")
            assert source in files or any(f.startswith(f"{source}/") for f in files), (
                f"line {instruction.line}: COPY {source}: not in the repository")


def test_dockerfile_runs_jupyterlab_as_a_user_on_port_8888() -> None:
    instructions = read_instructions(LAB_DOCKERFILE)
    keywords = [i.keyword for i in instructions]
    step = install_step()
    assert step.base_image == "python:3.11-slim-bookworm"
    # The last USER before CMD is not root.
    users = [i.arguments for i in instructions if i.keyword == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN"
                                        and "install.sh" in instructions[i].arguments)
    assert LAB_PORT in exposed_ports(LAB_DOCKERFILE)
    assert "HEALTHCHECK" in keywords
    (cmd,) = [i.arguments for i in instructions if i.keyword == "CMD"]
    assert cmd == '["siplab-start-lab"]'
    copies = [parse_copy(i) for i in instructions if i.keyword == "COPY"]
    assert any(c.sources == ("docker/start-lab.sh",)
               and c.destination == "/usr/local/bin/siplab-start-lab" for c in copies)
    assert os.access(ROOT / "docker" / "start-lab.sh", os.X_OK)


# --- the replayed image runs -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_TIMEOUT + 90)
def test_image_start_command_serves_jupyterlab_and_the_phone(
        replayed_image: ReplayedImage, tmp_path: Path) -> None:
    """docker/start-lab.sh (the image's CMD) with the image's venv: the token guards
    JupyterLab, /api answers the health check, /siplab-phone/ serves the phone."""
    image = replayed_image
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PATH": f"{image.bin}{os.pathsep}{os.environ['PATH']}",
           "SIPLAB_HOME": str(image.root), "SIPLAB_IP": "127.0.0.1", "SIPLAB_PORT": str(port),
           "SIPLAB_TOKEN": token, "SIPLAB_PHONE_WS": "ws://lab.example.org:8080/",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("JUPYTERHUB_API_TOKEN", None)
    log = tmp_path / "lab.log"
    with log.open("wb") as output:
        process = subprocess.Popen(["bash", str(ROOT / "docker" / "start-lab.sh")], env=env,
                                   cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while True:
            assert process.poll() is None, f"JupyterLab exited:\n{log.read_text()}"
            try:
                status, _, _ = _get(port, "/api")
                break
            except OSError:
                assert time.monotonic() < deadline, f"no /api after {LAB_START_TIMEOUT} s:\n" \
                                                    f"{log.read_text()}"
                time.sleep(0.2)
        assert status == 200  # the HEALTHCHECK's request, which needs no token

        assert _get(port, "/api/contents")[0] == 403
        status, _, body = _get(port, f"/api/contents?token={token}")
        assert status == 200
        assert b"00_start_here.ipynb" in body

        status, headers, _ = _get(port, f"/siplab-phone/?token={token}")
        assert status == 302
        location = headers["location"]
        assert location.startswith("phone.html?")
        assert "ws=ws%3A%2F%2Flab.example.org" in location
        status, _, body = _get(port, f"/siplab-phone/phone.html?token={token}")
        assert status == 200
        assert body == (image.root / "web" / "phone.html").read_bytes()
        assert f"token={token}" not in log.read_text()  # a token from the env is not logged
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_TIMEOUT + 90)
def test_binder_postbuild_passes_in_the_lab_environment(replayed_image: ReplayedImage) -> None:
    """postBuild's checks (server extension, phone entry point, web/ files, imports)
    pass in an environment holding exactly siplab[lab], as Binder's does."""
    image = replayed_image
    env = {**os.environ, "PATH": f"{image.bin}{os.pathsep}{os.environ['PATH']}"}
    result = _run(["bash", str(ROOT / "postBuild")], cwd=image.root, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "postBuild: siplab" in result.stdout
    assert "is ready" in result.stdout
    # The proxy will start the phone with the environment's own python.
    assert f"will run {image.bin / 'python'} -m siplab.lab.phone_server" in result.stdout
