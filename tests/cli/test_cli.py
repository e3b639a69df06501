"""The `seal-rag` command: only working subcommands, and an idempotent `models prepare`."""
import re

from tests.cli_run import run_cli


def _listed_commands(help_text: str) -> set[str]:
    section = help_text.split("Commands", 1)[1]
    return set(re.findall(r"^[│|] (\w[\w-]*) ", section, flags=re.MULTILINE))


def test_help_lists_only_working_subcommands():
    """Every listed command is a registered one whose own --help works, and nothing else shows."""
    import typer.main

    from cli.main import app

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


def test_ingest_names_bad_files_and_replaces_a_changed_one(settings, tmp_path):
    """The issue's CLI bar: a batch with a bad CSV and JSONL ingests the good file and names the
    bad ones; the good file changed and ingested again replaces its chunks, never duplicates them."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(settings.models_dir, target_is_directory=True)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("The Zorblax lighthouse on Kelpie Island is painted red.")
    (docs / "wide.csv").write_text('text\n"' + "x" * 200_000 + '"\n')
    (docs / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    first = run_cli("--home", str(home), "ingest", str(docs))
    assert first.returncode == 0, first.err
    assert "1 file(s): 1 chunks added" in first.out
    assert f"skipped {docs / 'wide.csv'}: a field is over 128 KB" in first.err
    assert f"skipped {docs / 'deep.jsonl'}: line 1 is nested too deeply" in first.err

    (docs / "good.txt").write_text("The Zorblax lighthouse on Kelpie Island is painted green.")
    again = run_cli("--home", str(home), "ingest", str(docs / "good.txt"))
    assert "1 file(s): 1 chunks added, 1 removed, 0 unchanged" in again.out
    listed = run_cli("--home", str(home), "kb", "list")
    assert listed.stdout.count("good.txt") == 1 and listed.out.startswith("1 chunks ")
