"""Time every parser and regex that reads person text, on adversarial inputs of 100 KB.

    PYTHONPATH=. .venv/bin/python benchmarks/linear_time.py [--kib 100] [--only WORD]

Nothing a person writes may stall the bot (issue 12, item 5): a regex with two quantifiers that can match
the same run backtracks in quadratic or cubic time, and holds the interpreter lock meanwhile (a 2.4 KB
postmortem heading once took 11 s; even /healthz stopped). Each case builds its worst input at a quarter
of the size and at the full size, times both (best of 3), and prints the time at the full size, its bound,
and `growth`: the cost per byte at full size over that at a quarter (1.0 is linear, 4.0 quadratic, 16.0
cubic; a shared machine adds noise of about +-50%).

A case is over its bound when it takes more than BOUND_SECONDS per 100 KiB of its input (PyYAML, linear but
slow, gets YAML_BOUND_SECONDS; its input is capped at 16 KiB per command), or, once it takes long enough to
measure (MEASURABLE_SECONDS), grows by more than MAX_GROWTH. The script exits 1 when any case is over.
main() runs every `bench_*` function defined here, in order; each one calls `case()` per input shape.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import commands, events, fields, markdown, markers, postmortem, timeutil  # noqa: E402
from bot.markers import BEGIN  # noqa: E402
from bot.neutralize import neutralize, neutralize_note, one_line  # noqa: E402
from bot.state import BlockError, read_block, write_block  # noqa: E402

BOUND_SECONDS = 0.25  # per 100 KiB of input
YAML_BOUND_SECONDS = 1.0  # per 100 KiB of fields YAML (PyYAML reads about 160-190 KB/s)
# markdown-it-py is linear, but makes 2-4 tokens per block: a heading or quoted item every few bytes
# reads at about 300 KB/s (a note is at most 1 MiB, and is parsed only when it holds a command line).
MARKDOWN_BOUND_SECONDS = 0.5
MEASURABLE_SECONDS = 0.02  # below this, growth is mostly noise on a shared machine
MAX_GROWTH = 2.0
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)

SIZE = 100 * 1024  # set by --kib
_ONLY: str | None = None
RESULTS: list[dict] = []


def _best(fn: Callable, arg, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(arg)
        best = min(best, time.perf_counter() - start)
    return best


def case(name: str, fn: Callable[[str], object], make: Callable[[int], str | bytes],
         bound: float = BOUND_SECONDS) -> dict | None:
    """Time fn(make(n)) at n = SIZE/4 and SIZE; print one line; record it in RESULTS.

    `bound`: seconds allowed per 100 KiB of the full-size input."""
    if _ONLY and _ONLY not in name:
        return None
    quarter, full = make(SIZE // 4), make(SIZE)
    t_quarter, t_full = _best(fn, quarter), _best(fn, full)
    growth = (t_full / len(full)) / (t_quarter / len(quarter)) if t_quarter > 0 else 1.0
    bound = max(bound * len(full) / (100 * 1024), 0.001)
    over = t_full > bound or (t_full > MEASURABLE_SECONDS and growth > MAX_GROWTH)
    result = {"name": name, "bytes": len(full), "seconds": t_full, "growth": growth, "over": over}
    RESULTS.append(result)
    print(f"  {name:<58} {len(full) / 1024:6.0f} KiB {t_full * 1000:9.2f} ms (bound {bound * 1000:6.1f})"
          f"  growth {growth:4.2f}  {'OVER' if over else 'ok'}", flush=True)
    return result


def _upto_cap(n: int) -> int:
    """n scaled so that SIZE becomes just under the fields' size cap."""
    return (commands.MAX_FIELDS_CHARS - 16) * n // SIZE


def _fields(text: str) -> object:
    (cmd,) = commands.parse_commands("/incident update\n" + text)
    return cmd


def _validate(verb: str, name: str) -> Callable[[str], object]:
    def run(value: str) -> object:
        try:
            return fields.validate_fields(verb, {name: value})
        except fields.FieldError as exc:
            return exc
    return run


def _delivery(body: str | bytes) -> object:
    try:
        return events.parse_delivery({"X-Gitlab-Event": "Note Hook"}, body)
    except events.BadDelivery as exc:
        return exc


# -- bot/commands.py: the comment grammar and its YAML fields ---------------------------------------------
def bench_commands() -> None:
    print("bot/commands.py")
    case("prefix line: '/incident' + spaces + 'x'", commands.parse_commands, lambda n: "/incident" + " " * n + "x")
    case("mention line: '@' + name chars", lambda t: commands.parse_commands(t, bot_username="incident-bot"),
         lambda n: "@incident-bot" + "-" * n)
    case("command lines (past the cap)", commands.parse_commands, lambda n: "/incident status\n" * (n // 17))
    case("fence opener lines", commands.parse_commands, lambda n: "```\n~~~\n" * (n // 8) + "/incident x")
    case("comment openers and quotes", commands.parse_commands, lambda n: "<!-- \n> x\n" * (n // 10))
    case("has_command on quoted lines", lambda t: commands.has_command(t, "/incident"),
         lambda n: "> /incident\n" * (n // 12))
    case("fields: 'x: [[[[...' (refused at depth 8)", _fields, lambda n: "x: " + "[" * n)
    case("fields: aliases (refused)", _fields, lambda n: "a: &a [x]\n" + "b: [" + "*a, " * (n // 4) + "]")
    case("fields: over the 16 KiB cap (refused unread)", _fields, lambda n: "k: v\n" * (n // 5))
    # PyYAML itself is linear but slow (about 160 KB/s): these run at the cap, and a quarter of it.
    case("fields: 'k: v' lines up to the cap", _fields, lambda n: "k: v\n" * (_upto_cap(n) // 5), YAML_BOUND_SECONDS)
    case("fields: list items up to the cap", _fields, lambda n: "progress:\n" + "  - step\n" * (_upto_cap(n) // 9),
         YAML_BOUND_SECONDS)
    case("fields: flow lists up to the cap", _fields, lambda n: "x: [" + "[a, b], " * (_upto_cap(n) // 8) + "]",
         YAML_BOUND_SECONDS)
    case("fields: '[' at 16 KiB (refused at depth 8)", _fields, lambda n: "x: " + "[" * _upto_cap(n))
    case("fields: one long quoted scalar", _fields, lambda n: "summary: '" + "a " * (n // 2) + "'")


# -- bot/fields.py and bot/timeutil.py: field values --------------------------------------------------------
def bench_fields() -> None:
    print("bot/fields.py, bot/timeutil.py")
    case("field name: ' -_' runs", lambda t: fields.normalise_name(t), lambda n: "next" + " -_" * (n // 3) + "x")
    case("choice: long value", _validate("exec", "customer_impact"), lambda n: "high" + " " * n + "x")
    case("int: digits", _validate("update", "tickets"), lambda n: "9" * n)
    case("int: digits and commas", _validate("update", "tickets"), lambda n: "1," * (n // 2) + "x")
    case("next: '1h' + spaces + 'x'", _validate("update", "next"), lambda n: "1h" + " " * n + "x")
    case("next: digits + 'h'", _validate("update", "next"), lambda n: "9" * n + "h")
    case("parse_duration: '1h' + spaces + '30m'", timeutil.parse_duration, lambda n: "1h" + " " * n + "30m")
    case("parse_next: clock + spaces", lambda t: timeutil.parse_next(t, NOW), lambda n: "14:30" + " " * n + "UTCx")
    case("parse_next: ISO-ish digits", lambda t: timeutil.parse_next(t, NOW), lambda n: "2026-" + "1" * n)


# -- bot/postmortem.py: action items in a postmortem's description -----------------------------------------
SECTION = "### Follow-up Actions\n"


def bench_postmortem() -> None:
    print("bot/postmortem.py")
    case("heading: '# a' + spaces + 'b'", postmortem.parse_actions, lambda n: "# a" + " " * n + "b\n")
    case("heading: '#' + spaces + '#'", postmortem.parse_actions, lambda n: "##" + " " * n + "#" * 6)
    case("heading: the section, then spaces and #s", postmortem.parse_actions,
         lambda n: "### Follow-up Actions" + " #" * (n // 2) + "\n- [ ] x\n")
    case("item box: '- ' + spaces", postmortem.parse_actions, lambda n: SECTION + "- " + " " * n + "x\n")
    case("item box: digits", postmortem.parse_actions, lambda n: SECTION + "1" * n + "x\n")
    case("item lines", postmortem.parse_actions, lambda n: SECTION + "- [ ] Do it @bob due:2026-12-15\n" * (n // 33))
    case("link: arrow + spaces + 'y'", postmortem.parse_item, lambda n: "x →" + " " * n + "y")
    case("link: '→ #' + digits + 'x'", postmortem.parse_item, lambda n: "x → #" + "1" * n + "x")
    case("link: many arrows", postmortem.parse_item, lambda n: "→ # " * (n // 4) + "→ #1")
    case("owner: '@a' + dots", postmortem.parse_item, lambda n: "x @a" + "." * n)
    case("owner: many mentions", postmortem.parse_item, lambda n: "@a " * (n // 3))
    case("due: 'due: ' repeated", postmortem.parse_item, lambda n: "x " + "due: " * (n // 5))
    case("split_lines: one long line", postmortem.split_lines, lambda n: "a" * n)
    case("split_lines: CRs", postmortem.split_lines, lambda n: "\r" * n)
    case("fences and comments in the section", postmortem.parse_actions,
         lambda n: SECTION + "```\n<!--\n" * (n // 10))
    case("markers: repeated openings", markers.postmortem_of,
         lambda n: "<!-- incident-bot:postmortem-of project=1 iid=" * (n // 46))
    case("markers: action key run", markers.action_of,
         lambda n: "<!-- incident-bot:action-of project=1 postmortem=2 key=" + "a" * n)
    # Reads the section with bot/markdown.py (markdown-it-py: linear, about 300 KB/s on dense blocks).
    case("link_items on many items", lambda t: postmortem.link_items(t, {}),
         lambda n: SECTION + "- [ ] Do it\n" * (n // 12), MARKDOWN_BOUND_SECONDS)


# -- bot/markdown.py: the one reader of fences, quotes, headings and task items ----------------------------
def _outline(text: str) -> object:
    doc = markdown.read(text)
    return doc.task_items(doc.headings)


def bench_markdown() -> None:
    print("bot/markdown.py")
    def rep(unit: str) -> Callable[[int], str]:
        return lambda n: (unit * (n // len(unit) + 1))[:n]

    for name, unit in {"code spans across lines, runs of every length": "a `\n`` b\n```\n/x `\n",
                       "unclosed backtick runs of growing length": "`" * 7 + " x\n",
                       "fence openers": "```\n", "fence openers with info": "```x\n~~~y\n",
                       "tilde and backtick fences mixed": "~~~\n```\n/a\n", ">>> runs": ">>>\n",
                       ">>> openers, longer each time": "", "nested quotes on one line": ">",
                       "nested quotes, a line each": "> > > > > > > > > > > > > > > > > > > > > > x\n",
                       "HTML comment openers": "<!--\n", "long heading": "#",
                       "headings, alternating levels": "# a\n###### b\n", "task lines": "- [ ] x @a due:2026-12-01\n",
                       "nested list items": "", "emphasis and brackets": "*_[`<"}.items():
        make = rep(unit)
        if name == ">>> openers, longer each time":
            make = lambda n: "".join(">" * k + "\n" for k in range(3, 2000))[:n]  # noqa: E731
        elif name == "nested list items":
            make = lambda n: "".join(" " * (2 * (k % 40)) + "- [ ] x\n" for k in range(n))[:n]  # noqa: E731
        elif name == "long heading":
            make = lambda n: "## " + "a #" * (n // 3)  # noqa: E731
        case(f"read: {name}", _outline, make, MARKDOWN_BOUND_SECONDS)
    case("parse_commands: >>> quotes around commands", commands.parse_commands,
         rep(">>>\n/incident resolve\n>>>\n/incident status\n"), MARKDOWN_BOUND_SECONDS)
    case("parse_actions: >>> quotes around items", postmortem.parse_actions,
         lambda n: SECTION + rep(">>>\n- [ ] x\n>>>\n- [ ] y\n")(n), MARKDOWN_BOUND_SECONDS)


# -- bot/events.py: the webhook body ------------------------------------------------------------------------
_NOTE = json.loads((Path(__file__).resolve().parent.parent / "tests/fixtures/note_hook_issue.json").read_text())


def _note_body(text: str) -> bytes:
    payload = dict(_NOTE, object_attributes=dict(_NOTE["object_attributes"], note=text))
    return json.dumps(payload).encode()


def bench_events() -> None:
    print("bot/events.py")
    case("body: '[' nesting (refused)", _delivery, lambda n: b"[" * n + b"]" * n)
    case("body: nesting inside an object (refused)", _delivery,
         lambda n: b'{"a": ' + b"[" * (n // 2) + b"]" * (n // 2) + b"}")
    case("body: many shallow containers", _delivery,
         lambda n: b'{"a": [' + b"[[1]]," * (n // 6) + b"0]}")
    case("body: a long note", _delivery, lambda n: _note_body("/incident update\nsummary: " + "x" * n))
    case("body: UTF-16 (refused)", _delivery, lambda n: _note_body("x" * (n // 2)).decode().encode("utf-16"))


# -- bot/neutralize.py and bot/state.py: what the bot writes around person text ---------------------------
def bench_neutralize() -> None:
    """Inputs that made the old fence scan quadratic (1.05 s at 50 KB of '```x' lines), and friends."""
    print("bot/neutralize.py, bot/state.py")
    def rep(unit: str) -> Callable[[int], str]:
        return lambda n: (unit * (n // len(unit) + 1))[:n]

    for name, unit in {"unclosed fence openers": "```\n", "openers with an info string": "```x\n",
                       "openers each followed by a / line": "```x\n/close\n",
                       "tilde and backtick fences mixed": "~~~\n```\n/a\n", "indented closers": "```\n/a\n  ```\n",
                       "markers and HTML lines": "<!-- incident-bot:begin -->\n</x>\n",
                       "one long line of backticks": "`", "CR-separated / lines": "/close\r"}.items():
        case(f"neutralize: {name}", neutralize, rep(unit))
    case("neutralize_note: unclosed fence openers", neutralize_note, rep("```\n"))
    case("one_line: Unicode line breaks", one_line, rep("a\u2028\x85\r\n\x0b"))
    case("read_block: begin markers, no end", lambda t: _read_block_or_error(t), rep(BEGIN))
    case("write_block: begin markers, no end", lambda t: write_block(t, "block"), rep(BEGIN + "\n"))


def _read_block_or_error(text: str) -> object:
    try:
        return read_block(text, "k" * 32)
    except BlockError as exc:
        return exc


def main(argv: list[str] | None = None) -> int:
    global SIZE, _ONLY
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kib", type=int, default=100, help="input size per case (default 100 KiB)")
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args(argv)
    SIZE, _ONLY = args.kib * 1024, args.only
    print(f"inputs of {args.kib} KiB; bound {BOUND_SECONDS:.2f} s per 100 KiB (YAML {YAML_BOUND_SECONDS:.2f} s); "
          f"growth (per-byte cost, full over quarter size) at most {MAX_GROWTH} once a case takes "
          f"{MEASURABLE_SECONDS * 1000:.0f} ms")
    for name, bench in list(globals().items()):
        if name.startswith("bench_") and callable(bench):
            bench()
    over = [r["name"] for r in RESULTS if r["over"]]
    worst = max(RESULTS, key=lambda r: r["seconds"], default=None)
    if worst:
        print(f"{len(RESULTS)} cases; slowest: {worst['name']} ({worst['seconds'] * 1000:.1f} ms)")
    if over:
        print("OVER the bound: " + "; ".join(over))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
