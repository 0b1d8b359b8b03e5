"""Every example in README.md runs as written (CI runs this file with the rest of the suite).

Each fenced block is its own test: ``python`` blocks with ``>>>`` prompts run as doctests (one
namespace shared across the README, as a reader's session would be), ``console`` blocks run each
``$ mmalign ...`` line and must exit 0 and write the files they say they wrote. Blocks run in
README order in one scratch folder, because later examples use files earlier ones wrote; a block
selected alone first runs the blocks before it. ``make`` lines (the install, the full demo and
the test suite itself) are left to CI's own steps.
"""

from __future__ import annotations

import doctest
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str, str]]:
    """(id, language, text) of every runnable block."""
    out = []
    for n, m in enumerate(_FENCE.finditer(README.read_text(encoding="utf-8"))):
        lang, text = m.group(1), m.group(2)
        if lang == "python" and ">>>" in text:
            first = next(ln for ln in text.splitlines() if ln.startswith(">>>"))
        elif lang == "console" and "$ " in text:
            cmds = [ln[2:] for ln in text.splitlines() if ln.startswith("$ ")]
            if all(c.startswith("make ") for c in cmds):
                continue
            first = next(c for c in cmds if not c.startswith("make "))
        else:
            continue
        slug = re.sub(r"[^a-z0-9]+", "-", first.lower().lstrip(">. "))[:40].strip("-")
        out.append((f"block{n:02d}-{slug}", lang, text))
    return out


BLOCKS = _blocks()


class _Workspace:
    """The scratch folder and the doctest namespace shared by the blocks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.globs: dict = {}
        self.done: set[str] = set()
        self.env = {
            **os.environ,
            "MMALIGN_CACHE": str(root / ".cache"),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
        }

    def run(self, block_id: str, lang: str, text: str) -> None:
        self.done.add(block_id)
        if lang == "python":
            self._doctest(block_id, text)
        else:
            self._console(text)

    def _doctest(self, name: str, text: str) -> None:
        test = doctest.DocTestParser().get_doctest(text, self.globs, name, str(README), 0)
        report = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            runner.run(test, out=report.write, clear_globs=False)
        finally:
            os.chdir(cwd)
            self.globs.update(test.globs)  # DocTest runs in a copy; later blocks need its names
        assert runner.failures == 0, report.getvalue()

    def _console(self, text: str) -> None:
        for line, expected in _commands(text):
            if line.startswith("$ make "):
                continue
            argv = shlex.split(line[2:])
            if argv[0] != "mmalign":  # a shell step that prepares a file (echo ... > f)
                proc = subprocess.run(
                    ["bash", "-c", line[2:]], cwd=self.root, env=self.env, timeout=60
                )
                assert proc.returncode == 0, line
                continue
            proc = subprocess.run(
                [sys.executable, "-m", "mmalign.cli", *argv[1:]],
                cwd=self.root,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            # a README example that shows an ``error:`` line documents a refusal: it must fail,
            # and what it shows is what the user sees on both streams
            refusal = any(ln.startswith("error:") or ": error:" in ln for ln in expected)
            if refusal:
                assert proc.returncode != 0, f"{line}: the README shows a refusal, it exited 0"
                proc.stdout = proc.stdout + proc.stderr
            else:
                assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
            for written in re.findall(r"^wrote (\S+)$", proc.stdout, re.M):
                assert (self.root / written).exists(), f"{line}: says it wrote {written}"
            shown = "".join(" ".join(ln.split()) + "\n" for ln in proc.stdout.splitlines())
            assert re.fullmatch(_output_pattern(expected), shown), (
                f"{line}: the README shows\n" + "\n".join(expected) + f"\nbut it printed\n{shown}"
            )


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _commands(text: str) -> list[tuple[str, list[str]]]:
    """(``$ command`` line, the output lines the README shows under it)."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            out.append((line, []))
        elif out:
            out[-1][1].append(line)
    return out


def _output_pattern(expected: list[str]) -> str:
    """A regex for the printed output: the README's lines in order, ``...`` for any lines in
    between, numbers free (timings and scores vary across machines), runs of blanks as one; the
    README may stop before the output does (an excerpt)."""
    parts = []
    for ln in expected:
        if ln.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        pieces = _NUMBER.split(" ".join(ln.split()))
        parts.append(r"[-+0-9.e]+".join(re.escape(p) for p in pieces) + r"\n")
    return "".join(parts) + r"(?:[^\n]*\n)*"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> _Workspace:
    return _Workspace(tmp_path_factory.mktemp("readme"))


def _param(block: tuple[str, str, str]):
    return pytest.param(block, id=block[0])


def test_readme_has_examples():
    langs = {lang for _, lang, _ in BLOCKS}
    assert {"python", "console"} <= langs and len(BLOCKS) >= 5


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS])
def test_readme_example_runs(block, workspace):
    block_id, lang, text = block
    for earlier in BLOCKS[: BLOCKS.index(block)]:
        if earlier[0] not in workspace.done:
            try:
                workspace.run(*earlier)
            except Exception:  # noqa: BLE001 - judged by its own test
                pass
    workspace.run(block_id, lang, text)


def test_output_check_can_fail():
    pat = _output_pattern(["cost 0.2254", "...", "wrote path.json"])
    assert re.fullmatch(pat, "cost 0.31\nshape 2x3\nwrote path.json\n")
    assert not re.fullmatch(pat, "cost 0.31\nshape 2x3\n")  # a line the README promises
    assert not re.fullmatch(pat, "price 0.31\nwrote path.json\n")  # other wording
