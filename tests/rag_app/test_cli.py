"""The `seal-rag` command: only working subcommands, and an idempotent `models prepare`."""
import os
import re
import subprocess
import sys


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag_app.cli", *args], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=600,
    )


def _listed_commands(help_text: str) -> set[str]:
    section = help_text.split("Commands", 1)[1]
    return set(re.findall(r"^[│|] (\w[\w-]*) ", section, flags=re.MULTILINE))


def test_help_lists_only_working_subcommands():
    """Every listed command is a registered one whose own --help works, and nothing else shows."""
    import typer.main

    from rag_app.cli import app

    registered = typer.main.get_command(app).commands
    result = _run("--help", COLUMNS="200")
    assert result.returncode == 0
    assert _listed_commands(result.stdout) == set(registered)
    for name, command in registered.items():
        assert _run(name, "--help", COLUMNS="200").returncode == 0
        for sub in getattr(command, "commands", {}):
            assert _run(name, sub, "--help").returncode == 0


def test_models_prepare_twice_second_run_converts_nothing(settings):
    result = _run("--home", str(settings.home), "models", "prepare")
    assert result.returncode == 0, result.stderr
    assert "0 model(s) converted" in result.stdout
    assert "no conversion" in result.stdout


def test_bad_setting_exits_with_a_message():
    result = _run("--device", "tpu", "config")
    assert result.returncode == 2
    assert "device" in result.stderr
