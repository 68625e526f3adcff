"""The installed distribution's name and version."""

from __future__ import annotations

from importlib import metadata

__all__ = ["DISTRIBUTION", "version"]

# `coderouter` on PyPI is an unrelated project; the import package and command keep the name.
DISTRIBUTION = "coderouter-host"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0"
