"""The `seal-rag` command: only working subcommands, and an idempotent `models prepare`."""
import re

from tests.cli_run import run_cli


def _listed_commands(help_text: str) -> set[str]:
    section = help_text.split("Commands", 1)[1]
    return set(re.findall(r"^[│|] (\w[\w-]*) ", section, flags=re.MULTILINE))


def test_help_lists_only_working_subcommands():
    """Every listed command is a registered one whose own --help works, and nothing else shows."""
    import typer.main

    from rag_app.cli import app

    registered = typer.main.get_command(app).commands
    result = run_cli("--help")
    assert result.returncode == 0
    assert _listed_commands(result.stdout) == set(registered)
    for name, command in registered.items():
        assert run_cli(name, "--help").returncode == 0
        for sub in getattr(command, "commands", {}):
            assert run_cli(name, sub, "--help").returncode == 0


def test_models_prepare_twice_second_run_converts_nothing(settings):
    result = run_cli("--home", str(settings.home), "models", "prepare")
    assert result.returncode == 0, result.stderr
    assert "0 model(s) converted" in result.out
    assert "no conversion" in result.out


def test_bad_setting_exits_with_a_message():
    result = run_cli("--device", "tpu", "config")
    assert result.returncode == 2
    assert "device" in result.err


def test_cli_messages_read_the_same_in_any_terminal(tmp_path, monkeypatch):
    """What a test reads must not depend on the caller's terminal: narrow, colour forced, long paths."""
    for name, value in {"COLUMNS": "30", "TERMINAL_WIDTH": "30", "FORCE_COLOR": "1"}.items():
        monkeypatch.setenv(name, value)
    report = tmp_path / ("a-long-folder-name-" * 4) / "old.json"
    report.parent.mkdir()
    report.write_text('{"overall": {}}')
    result = run_cli("compare", str(report), str(report))
    assert result.returncode == 2
    assert f"{report} has no per-query ranks for mode 'seal'" in result.err
