"""One request through an official SDK client pointed at a router, for tests that look at what
the router says about it in its response headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the SDKs are test dependencies; importing coderouter.testing needs neither
    import openai
    from openai.types.chat import ChatCompletionMessageParam

__all__ = ["answered_by", "chat_headers"]


def chat_headers(
    client: openai.OpenAI, model: str = "m", *, stream: bool = False
) -> Mapping[str, str]:
    """The response headers of one Chat Completions request for ``model`` that says hi. A
    streamed answer is read to its end first, so the router has finished the request (its log
    line written, its plugins' after-hooks run) when this returns."""
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model=model, messages=messages, stream=True
        ) as response:
            for _ in response.iter_lines():
                pass
            return response.headers
    return client.chat.completions.with_raw_response.create(model=model, messages=messages).headers


def answered_by(base_url: str, client: openai.OpenAI | None = None) -> tuple[str, str]:
    """The provider that answered one Chat request to the router at ``base_url``, and the
    ``x-coderouter-fallback`` header that says what was passed over (``""`` when nothing)."""
    if client is None:
        import openai

        client = openai.OpenAI(base_url=base_url + "/v1", api_key="k", max_retries=0)
    headers = chat_headers(client)
    return headers["x-coderouter-provider"], headers.get("x-coderouter-fallback", "")
