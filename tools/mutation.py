"""`make mutation`: mutmut over the modules that decide safety and correctness, one module at a time.

Each module is mutated in its own copy of the working tree (so runs can go in parallel and the tree stays
clean), and only the test files that pin it run against its mutants. Prints the score per module and
every surviving mutant with its diff; docs/testing.md says why each survivor left is harmless.

    python tools/mutation.py                 # every module
    python tools/mutation.py neutralize queue # some of them
    python tools/mutation.py --list          # the modules and their tests
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module name -> (the source files mutated, the test files that pin them)
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "neutralize": (["bot/neutralize.py"], ["tests/test_neutralize.py", "tests/test_quick_actions_extractor.py"]),
    "commands": (["bot/commands.py"], ["tests/test_commands.py", "tests/test_fields.py"]),
    "webhook": (["bot/webhook.py", "bot/app.py"], ["tests/test_app.py", "tests/test_events.py",
                                                   "tests/test_webhook_door.py"]),
    "process": (["bot/process.py"], ["tests/test_flow.py", "tests/test_permissions.py", "tests/test_attacks.py",
                                     "tests/test_attacks2.py", "tests/test_issue_event_trust.py"]),
    "executor": (["bot/executor.py"], ["tests/test_flow.py", "tests/test_concurrent_edits.py",
                                       "tests/test_delivery_faults.py", "tests/test_attacks_people.py"]),
    "followups": (["bot/followups.py"], ["tests/test_postmortem_flow.py", "tests/test_permissions.py",
                                         "tests/test_attacks_people.py"]),
    "queue": (["bot/queue/workers.py", "bot/queue/sqlite.py"], ["tests/test_queue.py",
                                                                 "tests/test_queue_contract.py"]),
    "cadence": (["bot/cadence.py"], ["tests/test_cadence.py"]),
    "postmortem": (["bot/postmortem.py"], ["tests/test_postmortem.py"]),
    "render": (["bot/render.py"], ["tests/test_render.py"]),
}

RESULT = re.compile(r"^\s*(\S+__mutmut_\d+): (.+)$")


def copy_tree(dest: Path) -> None:
    """The working tree as it is (tracked and new files, not what .gitignore hides)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def configure(dest: Path, sources: list[str], tests: list[str]) -> None:
    tests = [t for t in tests if (dest / t).exists()]
    conf = (
        "\n[tool.mutmut]\n"
        f"source_paths = [\"bot\"]\n"
        f"only_mutate = {sources!r}\n"
        "also_copy = [\"templates\", \"sandbox\"]\n"
        f"pytest_add_cli_args_test_selection = {tests!r}\n"
        "pytest_add_cli_args = [\"-p\", \"no:cacheprovider\", \"-p\", \"no:randomly\", \"-q\"]\n"
        "process_isolation = \"forkserver\"\n"
        "use_git_change_detection = false\n"
    ).replace("'", '"')
    with open(dest / "pyproject.toml", "a") as fh:
        fh.write(conf)


def run_module(name: str, children: int, keep: bool) -> dict:
    sources, tests = MODULES[name]
    work = Path(tempfile.mkdtemp(prefix=f"mutation-{name}-"))
    copy_tree(work)
    configure(work, sources, tests)
    started = time.monotonic()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    mutmut = [sys.executable, "-m", "mutmut"]
    run = subprocess.run(mutmut + ["run", "--max-children", str(children)], cwd=work, env=env,
                         capture_output=True, text=True)
    listing = subprocess.run(mutmut + ["results", "--all", "true"], cwd=work, env=env, capture_output=True,
                             text=True).stdout
    statuses: dict[str, str] = {}
    for line in listing.splitlines():
        m = RESULT.match(line)
        if m:
            statuses[m.group(1)] = m.group(2).strip()
    # A timeout is a mutant the tests caught (it hangs them: pytest-timeout fails the test).
    survivors = sorted(k for k, v in statuses.items() if v in ("survived", "no tests", "suspicious"))
    diffs = {k: subprocess.run(mutmut + ["show", k], cwd=work, env=env, capture_output=True, text=True).stdout
             for k in survivors}
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    if not statuses:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n", file=sys.stderr)
    killed = sum(1 for v in statuses.values() if v in ("killed", "timeout", "caught by type check"))
    return {"name": name, "total": len(statuses), "killed": killed, "survivors": survivors, "diffs": diffs,
            "statuses": statuses, "seconds": time.monotonic() - started, "dir": str(work) if keep else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)}")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep each module's mutants/ folder")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no diffs, only the survivors' names")
    args = parser.parse_args(argv)
    if args.list:
        for name, (sources, tests) in MODULES.items():
            print(f"{name:<11} {' '.join(sources)}  <-  {' '.join(tests)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
    rows = []
    for name in args.modules or list(MODULES):
        row = run_module(name, args.children, args.keep)
        rows.append(row)
        score = 100.0 * row["killed"] / row["total"] if row["total"] else 0.0
        print(f"{name:<11} {row['killed']:>4}/{row['total']:<4} killed  {score:5.1f}%  ({row['seconds']:.0f}s)",
              flush=True)
        for key in row["survivors"]:
            print(f"    {row['statuses'][key]}: {key}")
            if not args.quiet:
                print("        " + row["diffs"][key].strip().replace("\n", "\n        "))
    total = sum(r["total"] for r in rows)
    killed = sum(r["killed"] for r in rows)
    print(f"{'all':<11} {killed:>4}/{total:<4} killed  {100.0 * killed / max(total, 1):5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
