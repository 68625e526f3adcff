"""Distribution names: the host is ``coderouter-host`` (``coderouter`` on PyPI is an unrelated
project), and every plugin in the tree depends on it, never on the name someone else owns."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOST = "coderouter-host"
PLUGIN_PROJECTS = [
    *sorted(ROOT.glob("plugins/*/pyproject.toml")),
    ROOT / "contrib" / "example-plugin" / "pyproject.toml",
]


def _project(path: Path) -> dict[str, object]:
    project: dict[str, object] = tomllib.loads(path.read_text())["project"]
    return project


def test_host_distribution_name() -> None:
    assert _project(ROOT / "pyproject.toml")["name"] == HOST
    assert metadata.distribution(HOST).entry_points.select(group="console_scripts")["coderouter"]


@pytest.mark.parametrize("path", PLUGIN_PROJECTS, ids=lambda p: p.parent.name)
def test_plugin_depends_on_the_host(path: Path) -> None:
    project = _project(path)
    deps = [str(d) for d in project.get("dependencies", [])]  # type: ignore[attr-defined]
    names = [d.split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip() for d in deps]
    assert HOST in names, f"{path}: dependencies {deps} lack {HOST}"
    assert "coderouter" not in names, f"{path}: depends on the unrelated PyPI project coderouter"
    assert project["name"] == path.parent.name or path.parent.name == "example-plugin"


def test_docs_name_the_host_distribution() -> None:
    guide = (ROOT / "docs" / "plugins" / "guide.md").read_text()
    assert 'dependencies = ["coderouter-host"]' in guide
    assert 'dependencies = ["coderouter"]' not in guide
    assert "coderouter-host" in (ROOT / "docs" / "deploy.md").read_text()


def _import_contract_packages() -> tuple[set[str], set[str]]:
    linter = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    forbidden_sources = {
        module
        for contract in linter["contracts"]
        if contract["type"] == "forbidden"
        for module in contract["source_modules"]
    }
    return set(linter["root_packages"]), forbidden_sources


@pytest.mark.parametrize(
    "package",
    sorted(p.parent for p in ROOT.glob("plugins/*/coderouter_*/__init__.py")),
    ids=lambda p: p.name,
)
def test_plugin_package_is_under_the_import_contracts(package: Path) -> None:
    # import-linter takes root packages by name only, so a new plugin is listed by hand;
    # this says which list it is missing from.
    root_packages, forbidden_sources = _import_contract_packages()
    assert package.name in root_packages, (
        f"pyproject.toml [tool.importlinter] root_packages lacks {package.name}"
    )
    assert package.name in forbidden_sources, (
        f"no forbidden contract in pyproject.toml [tool.importlinter] lists {package.name}"
    )
