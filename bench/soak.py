"""Soak: N pages (default 10,000) from a generated local site on 2 worker processes.

    .venv/bin/python bench/soak.py [--pages N] [--processes 2] [--threads 2]
        [--recycle-pages 500] [--recycle-mb 2048] [--sample-every 10]

Starts its own PostgreSQL, Redis and generated site (tests/soak_support.py),
adds every page at once and prints, while it runs, pages finished, pages/min
and the RSS of the worker processes and of Chromium. At the end: pages/min per
tenth of the run (first vs last is the decay), RSS first vs last, every page's
end state by status and failure reason (the full list is written as JSON
lines), browser recycles and restarts, and processes left after the workers
stopped. The baseline is the run's own first tenth.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.soak_support import Sample, SoakResult, run_soak, soak_services  # noqa: E402


def show_progress(sample: Sample, pages: int) -> None:
    rate = sample.done / sample.at * 60 if sample.at > 0 else 0.0
    print(
        f"  t={sample.at:7.0f}s  done {sample.done:6d}/{pages}  {rate:6.1f} pages/min overall  "
        f"worker RSS/PSS {sample.worker_rss_mb:6.0f}/{sample.worker_pss_mb:6.0f} MB  "
        f"Chromium RSS/PSS {sample.chromium_rss_mb:6.0f}/{sample.chromium_pss_mb:6.0f} MB",
        flush=True,
    )


def tenth(samples: list[Sample], which: int) -> list[Sample]:
    """The samples of the first (0) or last (9) tenth of the run, by pages done."""
    total = samples[-1].done or 1
    low, high = which * total / 10, (which + 1) * total / 10
    picked = [s for s in samples if low <= s.done <= high and s.done > 0]
    return picked or samples[:1]


def report(result: SoakResult) -> None:
    print(
        f"\n{result.pages} pages in {result.seconds:.0f}s ({'STALLED' if result.stalled else 'ok'})"
    )
    rates = result.decile_rates()
    if rates:
        print("pages/min per tenth: " + ", ".join(f"{r:.1f}" for r in rates))
        print(
            f"first tenth {rates[0]:.1f} pages/min, last tenth {rates[-1]:.1f} "
            f"({rates[-1] / rates[0]:.2f}x of the first)"
        )
    first, last = tenth(result.samples, 0), tenth(result.samples, 9)
    for label, key in (
        ("worker RSS", "worker_rss_mb"),
        ("worker PSS", "worker_pss_mb"),
        ("Chromium RSS", "chromium_rss_mb"),
        ("Chromium PSS", "chromium_pss_mb"),
    ):
        a = statistics.fmean(getattr(s, key) for s in first)
        b = statistics.fmean(getattr(s, key) for s in last)
        peak = max(getattr(s, key) for s in result.samples)
        print(f"{label}: first tenth {a:.0f} MB, last tenth {b:.0f} MB, peak {peak:.0f} MB")
    print("end states: " + ", ".join(f"{k} {v}" for k, v in sorted(result.states.items())))
    for reason, count in result.reasons.most_common():
        print(f"    failed {count}x: {reason}")
    print(f"failed without a reason: {len(result.pages_without_reason)}")
    print(f"browser recycles {result.recycles}, crash restarts {result.restarts}")
    print(f"processes left after the workers stopped: {len(result.orphans)} {result.orphans}")
    print(f"every page's end state: {result.end_states_path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recycle-pages", type=int, default=500)
    parser.add_argument("--recycle-mb", type=int, default=2048)
    parser.add_argument("--sample-every", type=float, default=10.0)
    args = parser.parse_args()
    with soak_services() as (pg, redis):
        result = run_soak(
            pages=args.pages,
            pg=pg,
            redis=redis,
            processes=args.processes,
            threads=args.threads,
            recycle_pages=args.recycle_pages,
            recycle_mb=args.recycle_mb,
            sample_every=args.sample_every,
            progress=show_progress,
        )
    report(result)


if __name__ == "__main__":
    main()
