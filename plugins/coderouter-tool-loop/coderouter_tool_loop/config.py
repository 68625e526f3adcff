"""Settings of ``[plugins.tool_loop]`` (and ``[profiles.<p>.plugins.tool_loop]``)."""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ["Action", "ToolLoopConfig"]

Action = Literal["warn", "inject", "break"]


def _at_least_two(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 2:
        raise ValueError(f"{attribute.name} must be at least 2, got {value}")


@attrs.frozen
class ToolLoopConfig:
    """``action``: what a detected loop does (``warn`` logs, ``inject`` adds a note for the
    model, ``break`` answers 400 without calling any upstream). A loop is ``threshold``
    identical calls in a row among the last ``window`` tool calls."""

    action: Action = "warn"
    window: int = attrs.field(default=5, validator=_at_least_two)
    threshold: int = attrs.field(default=3, validator=_at_least_two)
    reset_on_user_text: bool = True

    def __attrs_post_init__(self) -> None:
        if self.threshold > self.window:
            raise ValueError(
                f"threshold ({self.threshold}) must not be larger than window ({self.window})"
            )
