"""`pip install .` (not editable) gives a working `seal-rag`: the shipped checkpoint, the sample
knowledge base and the evaluation question files are package data, not files of a source tree.

The wheel is built from a copy of the project (a stale build/ folder could hide a missing file)
and installed into a fresh venv that sees this environment's dependencies through a plain path
entry; the source tree is not on its path, so every module and data file comes from the wheel."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.cli_run import STABLE_CONSOLE, flat

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = (".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "docs", "tests")


def _run(*args: str | Path, cwd: Path, **env: str) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **env, **STABLE_CONSOLE})
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv with the project's wheel installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist",
         source, cwd=tmp)
    wheel = next((tmp / "dist").glob("seal_rag-*.whl"))
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).strip())
    # This environment's packages as a plain path entry: its .pth files (among them the editable
    # install's finder, which maps the packages to the source tree) are not processed.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel, cwd=tmp)
    return venv / "bin"


@pytest.mark.slow
def test_the_installed_wheel_answers_a_typed_question(installed, settings, tmp_path):
    where = _run(installed / "python", "-c", "import cli, knowledge_base, seal_model; "
                 "print(cli.__file__, knowledge_base.SAMPLE_KB, seal_model.SHIPPED_CHECKPOINT)", cwd=tmp_path).split()
    assert all("site-packages" in w and not w.startswith(str(ROOT)) for w in where), where
    assert "ask" in flat(_run(installed / "seal-rag", "--help", cwd=tmp_path))

    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(settings.models_dir, target_is_directory=True)
    env = {"SEAL_RAG_HOME": str(home), "SEAL_RAG_MAX_NEW_TOKENS": "24"}
    ingested = _run(installed / "seal-rag", "ingest", where[1], "--glob", "*.jsonl", cwd=tmp_path, **env)
    assert "chunks added" in ingested
    answer = flat(_run(installed / "seal-rag", "ask", "--text", "who is the director of the fbi", cwd=tmp_path, **env))
    assert "sources: [1]" in answer and "latency:" in answer and "total" in answer
