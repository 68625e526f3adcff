"""The rolling window and the reordering helper on their own."""

from __future__ import annotations

from coderouter_adaptive import Sample, Window, move_back_all


def test_stats_count_only_the_window_and_the_asked_measure() -> None:
    window = Window()
    window.add(Sample(0.0, True, "ttft", 9.0))
    window.add(Sample(50.0, True, "ttft", 1.0))
    window.add(Sample(55.0, True, "latency", 4.0))
    window.add(Sample(58.0, False))
    window.add(Sample(59.0, True, "ttft", 3.0))
    stats = window.stats(60.0, 30.0, "ttft")
    assert (stats.outcomes, stats.errors, stats.latencies) == (4, 1, [1.0, 3.0])
    assert stats.error_rate == 0.25 and stats.median() == 2.0
    assert window.stats(60.0, 30.0, "latency").latencies == [4.0]


def test_prune_drops_old_samples_and_the_window_is_bounded() -> None:
    window = Window(maxlen=3)
    for at in range(5):
        window.add(Sample(float(at), True, "ttft", 1.0))
    assert [s.at for s in window.samples] == [2.0, 3.0, 4.0]
    window.prune(10.0, 7.0)
    assert [s.at for s in window.samples] == [3.0, 4.0]


def test_empty_stats() -> None:
    stats = Window().stats(1.0, 60.0, "ttft")
    assert (stats.outcomes, stats.error_rate, stats.median()) == (0, 0.0, None)


def test_move_back_all_keeps_demoted_neighbours_in_order() -> None:
    assert move_back_all(["a", "b", "c"], {"a"}) == ["b", "a", "c"]
    assert move_back_all(["a", "b", "c"], {"a", "b"}) == ["c", "a", "b"]
    assert move_back_all(["a", "b", "c"], {"c"}) == ["a", "b", "c"]
    assert move_back_all(["a", "b", "c"], set()) == ["a", "b", "c"]
