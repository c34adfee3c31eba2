"""Binder: environment.yml, apt.txt and postBuild, in step with pyproject.toml.

Binder (repo2docker) builds the lab from ``environment.yml``: conda-forge
packages for every dependency, then ``pip install -e .[lab]`` for siplab
itself. If a dependency is added to ``pyproject.toml`` and not here (or the
other way round), pip quietly fills the gap from PyPI, or the conda side
drifts; so the two lists must name the same packages, and environment.yml's
version bounds must include pyproject.toml's. ``apt.txt`` is the lab image's
apt packages. postBuild itself runs in ``test_lab_image.py``, in an
environment holding exactly siplab[lab].
"""

from __future__ import annotations

import os
import re
import tomllib
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.docker.dockerfile import ROOT, install_step

yaml = pytest.importorskip("yaml")

ENVIRONMENT = ROOT / "environment.yml"
#: conda-forge names that install a differently named Python distribution.
CONDA_TO_PIP = {"matplotlib-base": "matplotlib"}
#: conda packages that are the environment, not dependencies.
TOOLING = {"python", "pip"}
BADGE = "https://mybinder.org/v2/gh/OWNER/siplab/HEAD"


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def environment() -> dict[str, Any]:
    data = yaml.safe_load(ENVIRONMENT.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def lab_requirements() -> dict[str, SpecifierSet]:
    """pyproject.toml's core dependencies and [lab] extra: name -> version bounds."""
    project = pyproject()["project"]
    requirements: dict[str, SpecifierSet] = {}
    for line in [*project["dependencies"], *project["optional-dependencies"]["lab"]]:
        requirement = Requirement(line)
        assert requirement.marker is None, f"{line}: a marker conda cannot express"
        requirements[canonicalize_name(requirement.name)] = requirement.specifier
    return requirements


def conda_spec(line: str) -> tuple[str, SpecifierSet]:
    """A conda MatchSpec of the forms used here: ``name``, ``name>=1,<2``, ``name=1.2``."""
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*([<>=!~,.*\d\s]*)", line.strip())
    assert match is not None, f"environment.yml: cannot read {line!r}"
    name, version = match.group(1), match.group(2).replace(" ", "")
    if version.startswith("=") and not version.startswith("=="):
        # conda's "=1.2" is "1.2 or any 1.2.x": pip's "==1.2.*".
        version = "=" + version + ("" if version.endswith("*") else ".*")
    return canonicalize_name(CONDA_TO_PIP.get(name, name)), SpecifierSet(version)


def conda_dependencies() -> tuple[dict[str, SpecifierSet], list[str]]:
    """environment.yml's conda packages (name -> bounds) and its pip lines."""
    conda: dict[str, SpecifierSet] = {}
    pip: list[str] = []
    for entry in environment()["dependencies"]:
        if isinstance(entry, dict):
            pip.extend(entry["pip"])
        else:
            name, spec = conda_spec(entry)
            conda[name] = spec
    return conda, pip


def test_environment_yml_agrees_with_pyproject() -> None:
    """Every core and [lab] dependency is a conda package in environment.yml, every conda
    package there is one of them, and each conda bound includes pyproject's bounds."""
    wanted = lab_requirements()
    conda, _ = conda_dependencies()
    packages = {name: spec for name, spec in conda.items() if name not in TOOLING}
    missing = sorted(set(wanted) - set(packages))
    assert not missing, f"in pyproject.toml, not in environment.yml: {missing}"
    unknown = sorted(set(packages) - set(wanted))
    assert not unknown, f"in environment.yml, not pyproject's core or [lab]: {unknown}"
    for name, spec in wanted.items():
        looser = {str(s) for s in spec} - {str(s) for s in packages[name]}
        assert not looser, f"{name}: pyproject.toml says {spec}, environment.yml misses {looser}"


def test_environment_yml_installs_siplab_editable_on_python_311() -> None:
    data = environment()
    assert data["channels"] == ["conda-forge"]
    conda, pip = conda_dependencies()
    assert str(conda["python"]) == "==3.11.*"
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains("3.11")
    # siplab itself, from the checkout, with the lab extra; nothing else from pip.
    assert pip == ["-e .[lab]"]


def test_binder_files_are_at_the_repository_root() -> None:
    """repo2docker reads binder/ (or .binder/) instead of the root when one exists."""
    assert not (ROOT / "binder").exists()
    assert not (ROOT / ".binder").exists()
    post_build = ROOT / "postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs postBuild only if executable"
    text = post_build.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text


def test_apt_txt_lists_the_lab_image_packages() -> None:
    lines = (ROOT / "apt.txt").read_text(encoding="utf-8").split()
    assert lines == install_step().environment["SIPLAB_APT_PACKAGES"].split()


def test_readme_binder_badge_opens_the_first_notebook() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    badge = re.search(re.escape(BADGE) + r"\?urlpath=lab/tree/([\w/.]+\.ipynb)", readme)
    assert badge is not None
    assert (ROOT / badge.group(1)).is_file()
    assert "placeholder" in readme  # OWNER is not a real owner, and the README says so
