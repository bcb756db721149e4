"""docs/design.md's map of rooms is held to the code: the same rooms, layers and siblings as
the import-linter ``layers`` contract in pyproject.toml, and a row for every module under
src/ltx, so the map cannot drift from what CI enforces."""

from __future__ import annotations

import ast
import re
from itertools import groupby
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| (-?[\d.]+) \| `(ltx(?:\.\w+)?)` \|", re.M)


def design_layers(text: str) -> list[frozenset[str]]:
    """The map's rooms, top layer first, siblings (same layer number) grouped."""
    rows = [(float(n), room) for n, room in ROW.findall(text)]
    numbers = [n for n, _ in rows]
    assert numbers == sorted(numbers, reverse=True), "the map's rows go from top to bottom"
    return [frozenset(r for _, r in grp) for _, grp in groupby(rows, key=lambda row: row[0])]


def contract_layers(pyproject: str) -> list[frozenset[str]]:
    """The ``layers`` contract's layers (read without tomllib, which 3.10 lacks)."""
    (block,) = re.findall(r'type = "layers"\s*layers = \[(.*?)\]', pyproject, re.S)
    layers = re.findall(r'"([^"]+)"', block)
    return [frozenset(part.strip() for part in layer.split("|")) for layer in layers]


def package_rooms() -> set[str]:
    src = ROOT / "src" / "ltx"
    names = {p.stem for p in src.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in src.iterdir() if (p / "__init__.py").exists()}
    return {f"ltx.{n}" for n in names}


def test_the_map_matches_the_layers_contract():
    ours = design_layers((ROOT / "docs" / "design.md").read_text())
    theirs = contract_layers((ROOT / "pyproject.toml").read_text())
    assert ours == theirs


def test_every_room_has_a_row():
    rooms = set().union(*design_layers((ROOT / "docs" / "design.md").read_text()))
    assert rooms == package_rooms()


def test_a_drifted_map_fails():
    text = (ROOT / "docs" / "design.md").read_text()
    contract = contract_layers((ROOT / "pyproject.toml").read_text())
    renamed = text.replace("| `ltx.changes` |", "| `ltx.diff` |")
    assert design_layers(renamed) != contract
    moved = text.replace("| 3 | `ltx.view` |", "| 2.5 | `ltx.view` |")
    assert design_layers(moved) != contract


KINDS = {"LTXSource", "LegacySource", "MixedSource", "PageMap", "LegacyPageMap", "LegacyPages"}


def kind_checks(source: str) -> list[int]:
    """Lines calling ``isinstance``/``issubclass`` on a replica kind or its page map."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") in CHECKS):
            continue
        if len(node.args) == 2 and KINDS & {
            getattr(n, "id", getattr(n, "attr", "")) for n in ast.walk(node.args[1])
        }:
            lines.append(node.lineno)
    return lines


CHECKS = {"isinstance", "issubclass"}


def test_no_isinstance_on_replica_kinds():
    """Replica kinds are told apart once, in ``ltx.sources.choose_source`` (by what the
    root holds), and page maps by their ``kind``: never by ``isinstance``."""
    found = {
        str(p.relative_to(ROOT)): lines
        for p in sorted((ROOT / "src" / "ltx").rglob("*.py"))
        if (lines := kind_checks(p.read_text()))
    }
    assert found == {}
    assert kind_checks("if isinstance(pm, (int, LegacyPageMap)):\n    pass\n") == [1]
