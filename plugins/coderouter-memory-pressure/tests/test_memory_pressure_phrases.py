"""The out-of-memory matcher: real backend messages match, ordinary text does not."""

from __future__ import annotations

import pytest
from coderouter_memory_pressure import find_oom


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        (
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity)",
            "CUDA out of memory",
        ),
        ("torch.OutOfMemoryError: cuda OUT OF MEMORY", "CUDA out of memory"),
        ("llama_init_from_model: failed to initialize the context: out of memory", "out of memory"),
        ("Out  of\nmemory while loading", "out of memory"),
        (
            "model requires more system memory (12.3 GiB) than is available (7.2 GiB)",
            "model requires more system memory",
        ),
        (
            "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 2048.00 MiB on device 0",
            "ggml_backend_cuda_buffer_type_alloc_buffer: allocating",
        ),
        ("cudaMalloc failed: invalid argument", "cudaMalloc failed"),
        ("llama_kv_cache_init: failed to allocate buffer for kv cache", "failed to allocate"),
        ("Insufficient memory to load the model", "insufficient memory"),
        ("not enough memory: you tried to allocate 123 bytes", "not enough memory"),
        ("runner process terminated: error: OOM", "OOM"),
        ("OOM error while decoding", "OOM"),
        ("container status: OOMKilled", "OOM"),
        ("worker killed (OOM)", "OOM"),
        ("Killed: oom", "OOM"),
    ],
)
def test_out_of_memory_messages_match(text: str, phrase: str) -> None:
    assert find_oom(text) == phrase


@pytest.mark.parametrize(
    "text",
    [
        "no room left in the context",
        "the context window has no room error-free",
        "room error",
        "bloom killed the process",
        "zoom-error",
        "OOM",
        "oom",
        "the OOM score of the process is high",
        "memory usage is fine",
        "context length exceeded: 40000 tokens > 32768",
        "HTTP 500: upstream error",
        "outofmemory",
        "without of memory",
        "it failed to allocated",
        "",
    ],
)
def test_ordinary_text_does_not_match(text: str) -> None:
    assert find_oom(text) is None


def test_any_of_several_texts_may_carry_the_phrase() -> None:
    assert find_oom("HTTP 500", '{"error": "CUDA error: out of memory"}') == "out of memory"
    assert find_oom("", "") is None
