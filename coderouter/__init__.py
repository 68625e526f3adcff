"""CodeRouter: a local-first LLM router for coding agents."""

from coderouter.hookspecs import hookimpl
from coderouter.plugins import AttachedPlugin, Plugin

__all__ = ["AttachedPlugin", "Plugin", "hookimpl"]
