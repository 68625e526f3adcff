"""Precision and recall of tool-call repair on the corpus in ``tests/corpus``.

    python plugins/coderouter-tool-repair/scripts/corpus_report.py [--corpus DIR] [--failures]

Each case is repaired twice, once whole and once streamed in 3-character pieces; the two must
agree. Precision counts recovered calls that were expected; recall counts expected calls that
were recovered.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coderouter_tool_repair.corpus import evaluate, load_corpus

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--failures", action="store_true", help="print every failing case")
    args = parser.parse_args()
    cases = load_corpus(args.corpus)
    report = evaluate(cases)
    positives = sum(1 for c in cases if c.calls)
    print(f"cases: {len(cases)} ({positives} with calls, {len(cases) - positives} without)")
    print(
        f"expected calls: {report.expected_calls}   recovered: {report.recovered_calls}   "
        f"correct: {report.true_positives}"
    )
    print(f"precision: {report.precision:.3f}   recall: {report.recall:.3f}")
    gaps = sum(len(c.calls) for c in cases if c.known_gap)
    print(f"known gaps (formats not recovered, left as text): {gaps} calls")
    stream_ok = sum(1 for r in report.results if r.stream_matches)
    print(f"streamed result equals whole result: {stream_ok}/{len(cases)}")
    print()
    print(f"{'group':<28}{'correct':>10}")
    for group, (ok, total) in sorted(report.by_group().items()):
        print(f"{group:<28}{ok:>6}/{total:<3}")
    if args.failures:
        for result in report.failures:
            print(f"\n{result.case.group}/{result.case.id}")
            print(f"  expected: {result.case.calls}")
            print(f"  got:      {result.calls}")
            print(f"  text:     {result.remaining!r}")
    return 0 if not report.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
