"""docs/interfaces.md names only what exists: every function, class and method it lists under a module's
heading is found in that module (and a listed call's parameters in its signature)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "interfaces.md"
HEADING = re.compile(r"^## (v2v/[\w/]+\.py)((?: and [\w/.]+\.py|, [\w/.]+\.py)*) — ", re.M)


def _sections() -> list[tuple[list[str], str]]:
    text = DOC.read_text()
    marks = list(HEADING.finditer(text))
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else text.find("\n## ", m.end())
        body = text[m.end() : end if end > 0 else None]
        first = m.group(1)
        folder = first.rsplit("/", 1)[0]
        files = [first] + [f if "/" in f else f"{folder}/{f}" for f in re.findall(r"([\w/.]+\.py)", m.group(2))]
        out.append(([f[: -len(".py")].replace("/", ".") for f in files], body))
    return out


def _params(text: str) -> list[str]:
    """The top-level comma-separated items of a parameter list up to its closing parenthesis."""
    items, depth, current = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    return [*items, current]


def _lookup(modules: list[object], name: str) -> object | None:
    for module in modules:
        if hasattr(module, name):
            return getattr(module, name)
    return None


def test_every_listed_name_exists_with_its_parameters() -> None:
    from v2v.engine import StreamEngine

    missing, checked = [], 0
    for names, body in _sections():
        modules = [importlib.import_module(n) for n in names]
        owner = None
        for line in body.splitlines():
            cls = re.match(r"^class (\w+)", line)
            if cls:
                owner = _lookup(modules, cls.group(1))
                checked += 1
                if owner is None:
                    missing.append(f"{names[0]}.{cls.group(1)}")
                continue
            fn = re.match(r"^(\s*)def (\w+)\((.*)", line) or re.match(r"^\| `(\w+)\(([^`]*)", line)
            if fn is None:
                for attr in re.findall(r"\bengine\.(\w+)", line):
                    checked += 1
                    if not hasattr(StreamEngine, attr) and attr not in ("metrics", "last_metrics"):
                        missing.append(f"StreamEngine.{attr}")
                continue
            if fn.re.pattern.startswith("^(\\s*)def"):
                indent, name, params = fn.group(1), fn.group(2), fn.group(3)
                target = getattr(owner, name, None) if indent and owner is not None else _lookup(modules, name)
            else:
                name, params = fn.group(1), fn.group(2)
                target = _lookup(modules, name)
            checked += 1
            if target is None:
                missing.append(f"{names[0]}.{name}")
                continue
            if callable(target) and not inspect.isclass(target):
                listed = [p.split("=")[0].split(":")[0].strip().lstrip("*") for p in _params(params)]
                actual = set(inspect.signature(target).parameters)
                missing += [f"{name}({p})" for p in listed if p and p not in ("self", "...") and p not in actual]
    assert checked > 30, f"only {checked} names found: the parser no longer reads docs/interfaces.md"
    assert missing == [], f"docs/interfaces.md names what the code does not have: {missing}"
