"""The bot's import graph: no cycle (function-level imports count, `if TYPE_CHECKING:` ones never run),
and the pure modules reach no module that does I/O (issue 13: layers)."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).parent.parent / "bot"

# Modules that talk to GitLab, the queue's stores, the network or the process; and third-party ones.
IO = {"bot.gitlab", "bot.gitlab_http", "bot.gitlab_admin", "bot.executor", "bot.followups", "bot.session",
      "bot.process", "bot.access", "bot.permissions", "bot.delivery", "bot.app", "bot.compose", "bot.cli",
      "bot.cadence_run", "bot.statekey", "bot.queue", "gitlab", "requests", "flask", "waitress", "redis", "sqlite3"}
PURE = {"bot.timeutil", "bot.state", "bot.events", "bot.commands", "bot.fields", "bot.neutralize",
        "bot.routing", "bot.markers", "bot.records", "bot.issue_claims", "bot.rebuild", "bot.cadence",
        "bot.postmortem", "bot.payload", "bot.payload_readers", "bot.shifts", "bot.gitlab_errors",
        "bot.gitlab_shapes"} | {f"bot.handlers.{p.stem}" for p in (BOT / "handlers").glob("*.py")}


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(path: Path) -> set[str]:
    """Every module the file imports when it runs, wherever the import statement sits."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                found.add(mod)
                found.update(f"{mod}.{alias.name}" for alias in child.names)  # `from . import x`
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in BOT.rglob("*.py")}
    edges = {}
    for name, path in files.items():
        targets = set()
        # A module's own packages are imported before it, whatever it imports: not an edge.
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        for imported in runtime_imports(path):
            if imported in files and imported != name:
                targets.add(imported)
            # Importing a.b runs a/__init__ first.
            parts = imported.split(".")
            targets.update(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in files
                           and ".".join(parts[:i]) != name)
        edges[name] = targets - ancestors
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_bot():
    assert find_cycle(graph()) is None


def test_pure_modules_reach_no_io_module():
    edges = graph()
    third_party = {p: runtime_imports(BOT.parent / (p.replace(".", "/") + ".py")) for p in PURE}
    for start in sorted(PURE):
        seen, todo = set(), [start]
        while todo:
            mod = todo.pop()
            if mod in seen:
                continue
            seen.add(mod)
            todo.extend(edges.get(mod, ()))
        reached = {m for m in seen if m in IO or m.startswith("bot.queue")}
        reached |= {m.split(".")[0] for m in third_party[start]} & IO
        assert not reached, f"{start} reaches {sorted(reached)}"
