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


def test_tallies_agree_with_a_scan_as_samples_arrive_expire_and_overflow() -> None:
    window = Window(maxlen=7, spans=(3.0, 10.0))
    for step in range(40):
        at = step * 0.5
        ok = step % 4 != 0
        window.add(Sample(at, ok, "ttft" if step % 3 else "latency", (step * 7) % 11 / 10))
        window.prune(at, 10.0)
        for span in (3.0, 10.0):
            tally = window.tally(span, at)
            for measure in ("ttft", "latency"):
                scan = window.stats(at, span, measure)
                assert (tally.outcomes, tally.errors) == (scan.outcomes, scan.errors)
                assert tally.count(measure) == len(scan.latencies)
                assert tally.median(measure) == scan.median()


def test_a_tally_for_a_new_span_starts_from_the_samples_kept() -> None:
    window = Window()
    for at in range(10):
        window.add(Sample(float(at), True, "ttft", float(at)))
    tally = window.tally(4.5, 9.0)
    assert (tally.outcomes, tally.median("ttft")) == (5, 7.0)
