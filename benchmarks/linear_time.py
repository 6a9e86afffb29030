"""Parsers and regexes on person text run in linear time: time them on adversarial 100 KB inputs.

    PYTHONPATH=. .venv/bin/python benchmarks/linear_time.py [--kb 100]

Each section prints, per input, the time at the full size and at a quarter of it, and their ratio:
about 4 means linear, about 16 quadratic. Target: every full-size input under 0.5 s, ratio under 6.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

from bot.neutralize import neutralize, neutralize_note, one_line

TARGET_SECONDS = 0.5
TARGET_RATIO = 6.0


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _time(fn: Callable[[str], object], text: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - start)
    return best


def _report(name: str, fn: Callable[[str], object], unit: str, size: int) -> bool:
    full = _time(fn, _fill(unit, size))
    quarter = _time(fn, _fill(unit, size // 4))
    ratio = full / quarter if quarter else float("inf")
    ok = full < TARGET_SECONDS and ratio < TARGET_RATIO
    print(f"  {name:<52} {size // 1024:>4} KB {full * 1000:8.1f} ms   x{ratio:4.1f} vs 1/4   {'ok' if ok else 'SLOW'}")
    return ok


def bench_neutralize(size: int) -> bool:
    """bot.neutralize on inputs that made the old fence scan quadratic, and friends."""
    print("neutralize (person text) and neutralize_note (whole note), one_line (titles)")
    inputs = {
        "unclosed fence openers": "```\n",
        "unclosed openers with an info string": "```x\n",  # old scan: 1.05 s at 50 KB
        "openers each followed by a / line": "```x\n/close\n",
        "tilde and backtick fences mixed": "~~~\n```\n/a\n",
        "indented closers": "```\n/a\n  ```\n",
        "markers and HTML lines": "<!-- incident-bot:begin -->\n</x>\n",
        "one long line of backticks": "`",
        "CR-separated / lines": "/close\r",
    }
    ok = True
    for name, unit in inputs.items():
        ok &= _report("neutralize: " + name, neutralize, unit, size)
    ok &= _report("neutralize_note: unclosed fence openers", neutralize_note, "```\n", size)
    ok &= _report("one_line: Unicode line breaks", one_line, "a\u2028\x85\r\n\x0b", size)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=int, default=100, help="input size in KB (default 100)")
    args = parser.parse_args(argv)
    size = args.kb * 1024
    ok = bench_neutralize(size)
    print("all within target" if ok else "SOME ABOVE TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
