"""Which server a provider points at, guessed from its name and URL, and the advice that
fixes what the config cannot (the server's own context and output limits)."""

from __future__ import annotations

from typing import Literal

from coderouter.config import ProviderConfig

__all__ = ["Backend", "backend_of", "context_advice", "model_missing_advice", "output_advice"]

Backend = Literal["ollama", "llamacpp", "other"]


def backend_of(provider: ProviderConfig) -> Backend:
    """``ollama`` for port 11434 or a name or URL saying so; ``llamacpp`` for a name or URL
    naming llama.cpp / llama-server; else ``other``."""
    where = f"{provider.name} {provider.base_url}".lower()
    if ":11434" in where or "ollama" in where:
        return "ollama"
    if any(word in where for word in ("llamacpp", "llama.cpp", "llama-cpp", "llama-server")):
        return "llamacpp"
    return "other"


def context_advice(provider: ProviderConfig, usable: int | None, wanted: int) -> str:
    backend = backend_of(provider)
    now = f" (it keeps {usable} tokens now)" if usable else ""
    if backend == "ollama":
        return (
            f"start Ollama with OLLAMA_CONTEXT_LENGTH={wanted}, or give the model a Modelfile "
            f"with PARAMETER num_ctx {wanted}: its OpenAI endpoint ignores options.num_ctx{now}"
        )
    if backend == "llamacpp":
        return f"start llama-server with --ctx-size {wanted}{now}"
    return f"raise the server's context window to {wanted} tokens or more{now}"


def output_advice(provider: ProviderConfig) -> str:
    backend = backend_of(provider)
    if backend == "ollama":
        return (
            "give the model a Modelfile with PARAMETER num_predict -1 (Ollama's default output "
            "limit applies whenever a client sends no max_tokens)"
        )
    if backend == "llamacpp":
        return "start llama-server with --n-predict -1"
    return "raise the server's default output limit (clients often send no max_tokens)"


def model_missing_advice(provider: ProviderConfig) -> str:
    if backend_of(provider) == "ollama":
        return f"ollama pull {provider.model}"
    return f"check model = {provider.model!r} and base_url = {provider.base_url!r}"
