"""The docs cannot go stale: every command they show runs, and the output they quote is the output.

Conventions, in README.md, docs/*.md and rules/README.md:
- a ```sh (or ```bash) block runs as one bash script (`set -euo pipefail`) from the project root,
  with the virtualenv's `bin` first on the PATH; it must exit 0;
- `<!-- doc-test: skip: REASON -->` on the line before a block skips it, with that reason (a command
  that needs a running broker, or `make test` itself);
- `<!-- doc-test: output -->` before a ```text block says it is the output of the block above it:
  its lines must appear, in order and together, in what that block prints, once figures of time
  and speed are masked (they are the machine's);
- ```text blocks without the marker are illustrations and are not checked.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from stream_guard.config.settings import settings_of

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "rules" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = {"sh", "bash"}
SKIP = re.compile(r"<!--\s*doc-test:\s*skip:\s*(.+?)\s*-->")
OUTPUT = re.compile(r"<!--\s*doc-test:\s*output\s*-->")
TIMING = re.compile(r"[\d,]+(?:\.\d+)?(?= ?(?:s|ms|us|µs|events/s|us/message)\b)")
README_MOST_LINES = 200


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    skip: str | None
    expected: str | None = None  # the quoted output that follows it

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    marker = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            language = line[3:].strip()
            end = next((j for j in range(index + 1, len(lines)) if lines[j].startswith("```")), None)
            assert end is not None, f"{path}:{index + 1}: a code block is never closed"
            text = "\n".join(lines[index + 1:end]) + "\n"
            skipped = SKIP.search(marker)
            if OUTPUT.search(marker):
                assert found and found[-1].language in RUN_LANGUAGES, f"{path}:{index + 1}: output of no command"
                found[-1].expected = text
            else:
                found.append(Block(path, index + 1, language, text, skipped.group(1) if skipped else None))
            marker, index = "", end + 1
            continue
        if line.strip():
            marker = line
        index += 1
    return found


COMMANDS = [block for path in DOCS for block in blocks_of(path) if block.language in RUN_LANGUAGES]


def masked(text: str) -> list[str]:
    return [TIMING.sub("#", line.rstrip()) for line in text.splitlines()]


def contains_in_order(output: list[str], expected: list[str]) -> bool:
    return any(output[i:i + len(expected)] == expected for i in range(len(output) - len(expected) + 1))


@pytest.mark.parametrize("block", COMMANDS, ids=[block.name for block in COMMANDS])
def test_every_command_in_the_docs_runs(block: Block):
    if block.skip:
        pytest.skip(block.skip)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("STREAM_GUARD_RULES_DIR", None)
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block.text], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{block.name} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    if block.expected is not None:
        said = masked(done.stdout + done.stderr)
        assert contains_in_order(said, masked(block.expected)), (
            f"{block.name}: the output quoted below it is not what it prints:\n{done.stdout}{done.stderr}")


def test_the_docs_have_commands_and_the_readme_is_short():
    assert any(block.path.name == "README.md" and block.expected for block in COMMANDS)
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= README_MOST_LINES


def test_the_output_check_sees_a_difference():
    quoted = "  events      11,116 records; 0.03 s (383,310 events/s)\n  violations  101\n"
    printed = "make: ...\n  events      11,116 records; 9.99 s (1,234 events/s)\n  violations  101\ndone\n"
    assert contains_in_order(masked(printed), masked(quoted))
    assert not contains_in_order(masked(printed.replace("101", "102")), masked(quoted))
    assert not contains_in_order(masked(printed.replace("11,116", "11,117")), masked(quoted))


def test_the_docs_name_only_files_that_exist():
    named = set()
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        named |= set(re.findall(r"\]\(((?!https?:|#)[^)#\s]+)", text))
        named |= {name for name in re.findall(r"`((?:docs|rules|deploy|scripts|stream_guard|tests|benchmarks|_native)"
                                              r"/[\w./-]*\w)`", text) if "*" not in name}
    missing = sorted(name for name in named if not ((ROOT / name).exists() or (ROOT / "docs" / name).exists()))
    assert missing == []


def test_the_settings_table_in_operations_is_the_workers():
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = [[cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith(("| `--", "| --", "| - |"))]
    expected = [[s.flag, s.env, s.shown_default("worker"), s.help] for s in settings_of("worker")]
    assert [row[:4] for row in rows] == expected


def test_the_platform_rules_list_every_rule_under_its_source():
    from stream_guard.evaluation.packs import default_rules_dir, load_all

    rows = {}
    for line in (ROOT / "docs" / "platform-rules.md").read_text(encoding="utf-8").splitlines():
        found = re.match(r"\| ([A-Z]+-[A-Z0-9-]+) \|", line)
        if found:
            rows[found.group(1)] = line
    packs, problems = load_all(default_rules_dir())
    assert problems == []
    unlisted = sorted({f"{rule.source}: {rule.id}" for pack in packs.values() for rule in pack.rules
                       if f"`{rule.id}`" not in rows.get(rule.source, "")})
    assert unlisted == []
