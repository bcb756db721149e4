"""Every code block in the README and docs runs: python blocks in order, one namespace per
page; ``ltx`` lines of sh blocks as commands. Set-up lines (pip, uv) are proven by .ci/run.

Each page runs in a fresh folder holding the demo replica (``./demo-replica``).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ltx.demo import build_demo

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```$", re.M | re.S)
SETUP = ("python3 -m pip ", "python3 -m uv ", "pip ", "uv ")


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text())]


def _run_sh(code: str, cwd: Path) -> None:
    for line in code.splitlines():
        line = line.split("  #", 1)[0].strip()
        if not line or line.startswith(SETUP):
            continue
        assert line.startswith("ltx "), f"sh line the docs runner cannot run: {line}"
        args = shlex.split(line)[1:]
        out = subprocess.run(
            [sys.executable, "-m", "ltx", *args], cwd=cwd, capture_output=True, text=True
        )
        assert out.returncode == 0, f"{line}\n{out.stderr}"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("demo")
    build_demo(where / "demo-replica")
    return where / "demo-replica"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(page, tmp_path, demo_template, monkeypatch):
    import shutil

    shutil.copytree(demo_template, tmp_path / "demo-replica", copy_function=shutil.copy2)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    ran = 0
    for lang, code in blocks(page):
        if lang == "python":
            exec(compile(code, f"{page.name}:python", "exec"), namespace)
            ran += 1
        elif lang in ("sh", "bash"):
            _run_sh(code, tmp_path)
            ran += 1
        elif lang not in ("text", "yaml", "json", "toml"):
            pytest.fail(f"{page.name}: code block in {lang!r}, which the docs runner does not run")
    if ran == 0:
        pytest.skip("no code blocks")
