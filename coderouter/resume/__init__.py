"""Seamless failover mid-stream: a stream that breaks after the client got its first content
is continued on the next provider of the chain, in the same client stream.

* :mod:`~coderouter.resume.sent` — what the client was sent, read back from its bytes;
* :mod:`~coderouter.resume.continuation` — the decision and the continuation request;
* :mod:`~coderouter.resume.overlap` — the repeat of the sent tail, cut away;
* :mod:`~coderouter.resume.stitch` — the continuation's events fitted into the stream;
* :mod:`~coderouter.resume.hold` — tool calls held back until complete.
"""

from coderouter.resume.continuation import (
    CONTINUE_NOTE,
    Plan,
    ResumeMode,
    continuation_request,
    estimated_usage,
    plan_resume,
    sum_usage,
)
from coderouter.resume.hold import ToolHolder
from coderouter.resume.overlap import Overlap, strip_overlap
from coderouter.resume.sent import SentLog, SentState, read_sent
from coderouter.resume.stitch import Stitcher, primed_encoder

__all__ = [
    "CONTINUE_NOTE",
    "Overlap",
    "Plan",
    "ResumeMode",
    "SentLog",
    "SentState",
    "Stitcher",
    "ToolHolder",
    "continuation_request",
    "estimated_usage",
    "plan_resume",
    "primed_encoder",
    "read_sent",
    "strip_overlap",
    "sum_usage",
]
