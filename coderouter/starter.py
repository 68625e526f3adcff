"""The commented starter config written by ``coderouter init``, which is also the built-in
default a router without a config file runs."""

STARTER_CONFIG = """\
# CodeRouter configuration. Check it with: coderouter check --config coderouter.toml
# Every key is described in docs/configuration.md.

[server]
host = "127.0.0.1"        # bind address; keep loopback unless you set api_keys_env
port = 8088
workers = 1               # worker processes; plugin state is per worker
# max_body_bytes = 33554432
# api_keys_env = "CODEROUTER_KEYS"   # env var with comma-separated keys clients must send

[router]
default_profile = "default"
allow_paid = false        # paid = true providers are skipped unless this (or
                          # CODEROUTER_ALLOW_PAID=1) allows them
# [router.mode_aliases]   # X-CodeRouter-Mode: fast -> profile "local"
# fast = "local"

[plugins]
# Which plugins run, in this order; see: coderouter plugins. These four are safe everywhere:
# circuit-break failing backends, clean local models' output, repair their tool calls, and
# count everything (/metrics, /dashboard).
enabled = ["backend_health", "output_filters", "tool_repair", "metrics"]

[plugins.backend_health]
action = "skip"           # "warn" only logs, "demote" tries an unhealthy backend last

# Providers are tried in the order a profile lists them.
[[providers]]
name = "ollama"
kind = "openai"           # "openai" (Chat Completions), "anthropic" (Messages), "openai_responses"
base_url = "http://127.0.0.1:11434/v1"
model = "qwen2.5-coder:7b"  # empty: the client's model name is sent as is
# timeout_s = 60          # read timeout: the longest silence between two reads

[[providers]]
name = "llamacpp"
kind = "openai"
base_url = "http://127.0.0.1:8080/v1"
model = "local"

[[providers]]
name = "lmstudio"
kind = "openai"
base_url = "http://127.0.0.1:1234/v1"
model = ""                # empty: the client's model name is sent as is

# A paid cloud provider; the key is read from the environment, never from this file.
# [[providers]]
# name = "anthropic"
# kind = "anthropic"
# base_url = "https://api.anthropic.com"
# model = "claude-sonnet-4-5"
# api_key_env = "ANTHROPIC_API_KEY"
# paid = true

[profiles.default]
providers = ["ollama", "llamacpp", "lmstudio"]
"""
