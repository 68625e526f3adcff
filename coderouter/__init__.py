"""CodeRouter: a local-first LLM router for coding agents."""

from coderouter.hookspecs import hookimpl
from coderouter.plugins import Plugin

__all__ = ["Plugin", "hookimpl"]
