from __future__ import annotations

from coderouter.config import ProviderConfig
from coderouter.types import Chain


def chain(*names: str) -> Chain:
    return Chain("default", [ProviderConfig(name=n, base_url="http://x") for n in names])


def test_skip_records_reason_and_removes() -> None:
    c = chain("a", "b", "c")
    assert c.skip("b", "unhealthy", by="backend_health") is True
    assert c.names() == ["a", "c"]
    assert c.skipped[0].provider == "b" and c.skipped[0].by == "backend_health"
    assert c.skip("zz", "nope") is False


def test_demote_and_move_back() -> None:
    c = chain("a", "b", "c", "d")
    assert c.demote("a", "slow") is True
    assert c.names() == ["b", "c", "d", "a"]
    assert c.move_back("b", "errors", places=2) is True
    assert c.names() == ["c", "d", "b", "a"]
    assert c.demote("a", "already last") is False
    assert [m.provider for m in c.moves] == ["a", "b"]


def test_prefer_is_a_stable_partition_recording_moves() -> None:
    c = chain("text1", "vision1", "text2", "vision2")
    moved = c.prefer(lambda p: p.name.startswith("vision"), "request has images")
    assert c.names() == ["vision1", "vision2", "text1", "text2"]
    assert moved == ["text1", "text2"]
    assert c.prefer(lambda p: True, "all match") == []
