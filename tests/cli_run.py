"""Running `seal-rag` in a subprocess, for every test that reads what it prints.

Typer prints errors in Rich panels wrapped at the terminal width and coloured whenever it
believes a terminal is attached (FORCE_COLOR, GITHUB_ACTIONS, ...), so an assertion on a message
passed or failed with the caller's COLUMNS and the length of pytest's temp path. `run_cli` gives
the command one fixed console instead (very wide, no colour, no terminal) and `CliResult.out` /
`.err` are the text with ANSI codes, panel borders and line breaks flattened to single spaces.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

WIDE = "4000"  # wider than any message plus any temp path: nothing wraps
STABLE_CONSOLE = {"COLUMNS": WIDE, "TERMINAL_WIDTH": WIDE, "NO_COLOR": "1", "TERM": "dumb",
                  "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
# Each of these makes Rich or Typer draw for a terminal (colour codes) whatever NO_COLOR says.
FORCES_A_TERMINAL = ("FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE", "GITHUB_ACTIONS", "TTY_COMPATIBLE", "TTY_INTERACTIVE")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BOX = re.compile(r"[\u2500-\u257f]")  # Rich's panel borders


def flat(text: str) -> str:
    """Text as words: no ANSI codes, no panel borders, every run of whitespace one space."""
    return " ".join(_BOX.sub(" ", _ANSI.sub("", text)).split())


@dataclass
class CliResult:
    returncode: int
    stdout: str  # ANSI-free, line structure kept (for parsing tables and help listings)
    stderr: str

    @property
    def out(self) -> str:
        return flat(self.stdout)

    @property
    def err(self) -> str:
        return flat(self.stderr)


def run_cli(*args: str, timeout: float = 600, **env: str) -> CliResult:
    """`python -m cli.main ARGS` with extra environment `env` and a fixed console."""
    base = {k: v for k, v in os.environ.items() if k not in FORCES_A_TERMINAL}
    done = subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
                          env={**base, **env, **STABLE_CONSOLE}, timeout=timeout)
    return CliResult(done.returncode, _ANSI.sub("", done.stdout), _ANSI.sub("", done.stderr))
