"""`seal-rag eval`, `compare` and `report`: measuring SEAL against the ASR pipeline."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from cli.common import load_set_and_model, settings_of, user_errors


def eval_command(
    ctx: typer.Context,
    set_dir: Path = typer.Option(..., "--set", help="Evaluation set folder (passages.jsonl, queries.jsonl, audio)."),
    modes: str = typer.Option("seal,asr,text", help="Comma-separated: seal, asr, text, reading (SEAL's own CTC reading -> text tower), fused (seal + reading vectors averaged), decoder (Whisper's decoder on SEAL's encoder states -> text tower); the last three are diagnostics."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON."),
    limit: Optional[int] = typer.Option(None, help="Only the first N queries (quick look)."),
    threads: int = typer.Option(0, help="torch threads (0 = torch's default)."),
    reuse_transcripts: bool = typer.Option(True, help="Keep Whisper's transcripts (and their times) in the set's folder and reuse them: they do not depend on the SEAL checkpoint (one file per Whisper model and generation_dtype)."),
    answers: bool = typer.Option(False, "--answers", help="Answer-level evaluation: the whole turn with the configured LLM on queries that carry 'answers' (accuracy, abstention, citations, time to first token)."),
    without_gold: bool = typer.Option(False, help="With --answers: take each query's gold passages out of the knowledge base (abstaining is then right)."),
) -> None:
    """Top-1/3/10 and MRR@10 per mode, voice and condition; speech->embedding latency p50/p95.
    With --answers: answer accuracy, abstention, citation correctness and time to first token."""
    import dataclasses

    from evaluation.evaluate import MODES, evaluate, format_report
    from rag_app.model_store import resolve_model_dir
    from rag_app.wiring import generation_device

    settings = settings_of(ctx)
    chosen = tuple(m.strip() for m in modes.split(",") if m.strip())
    unknown = set(chosen) - set(MODES)
    if unknown:
        raise typer.BadParameter(f"unknown modes {sorted(unknown)}; use {', '.join(MODES)}")
    eval_set, seal = load_set_and_model(settings, set_dir, threads)
    transcriber = None
    if {"asr", "decoder"} & set(chosen):
        from rag_app.wiring import make_transcriber

        transcriber = make_transcriber(settings)
    # transcripts depend on Whisper and the number format its decoder runs in (generation_dtype)
    number_format = str(generation_device(settings)[1]).removeprefix("torch.")
    cache_file = set_dir / f"transcripts-{resolve_model_dir(settings, 'whisper').name}-{number_format}.json"
    transcripts = json.loads(cache_file.read_text()) if reuse_transcripts and cache_file.is_file() else {}
    if answers:
        report = _answer_report(settings, eval_set, seal, transcriber, transcripts if reuse_transcripts else None,
                                chosen, limit, without_gold)
    else:
        report = evaluate(eval_set, seal, transcriber, chosen, limit, log=typer.echo,
                          transcripts=transcripts if reuse_transcripts else None)
        typer.echo(format_report(report))
    if reuse_transcripts and "asr" in chosen:
        cache_file.write_text(json.dumps(transcripts))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(dataclasses.asdict(report), indent=2))


def _answer_report(settings, eval_set, seal, transcriber, transcripts: dict | None, modes: tuple[str, ...],
                   limit: int | None, without_gold: bool):
    """The whole turn per query (`evaluation.answers`), printed; the report is returned for --json."""
    from evaluation.answers import RememberedTranscriber, evaluate_answers, format_answers
    from rag_app.pipeline import Pipeline
    from rag_app.wiring import make_llm, make_vad, pipeline_options

    if {"reading", "fused", "decoder"} & set(modes):
        raise typer.BadParameter("--answers runs whole turns: use the modes seal, asr, text")
    if transcriber is None and settings.question_text == "decoder":
        from rag_app.wiring import make_transcriber

        transcriber = make_transcriber(settings)
    if transcriber is not None and transcripts is not None:
        transcriber = RememberedTranscriber(transcriber, transcripts)
    pipeline = Pipeline(seal, None, make_llm(settings), make_vad(settings), transcriber, **pipeline_options(settings))
    with user_errors(ValueError):
        report = evaluate_answers(eval_set, pipeline, modes, limit, without_gold, log=typer.echo)
    typer.echo(format_answers(report))
    return report


def compare_command(
    report_a: Path = typer.Argument(..., help="`seal-rag eval --json` output of the baseline (A)."),
    report_b: Path = typer.Argument(..., help="`seal-rag eval --json` output of the candidate (B), same set."),
    mode: str = typer.Option("seal", help="Which mode's ranks to compare (seal, asr, text, reading, fused, decoder)."),
    mode_b: Optional[str] = typer.Option(None, help="B's mode when it differs from A's (a change of what a turn "
                                                    "searches with: e.g. --mode seal --mode-b decoder). Default: --mode."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the comparison as JSON."),
) -> None:
    """Query-by-query comparison of two evaluations: Top-1 and MRR@10 differences with paired
    bootstrap intervals and McNemar's exact test; for two `eval --answers` reports, answer accuracy."""
    from evaluation.compare import answer_outcomes, format_comparison, paired_comparison

    ranks, answers = [], False
    for path, which in ((report_a, mode), (report_b, mode_b or mode)):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc}")
        found = report.get("ranks", {}).get(which) if isinstance(report, dict) else None
        if not found and isinstance(report, dict) and "results" in report:  # `eval --answers`: right or wrong
            found, answers = answer_outcomes(report, which), True
        if not found:
            raise typer.BadParameter(f"{path} has no per-query ranks for mode {which!r} "
                                     "(rerun `seal-rag eval --json` with this version and that mode)")
        ranks.append(found)
    try:
        result = paired_comparison(*ranks)
    except ValueError as exc:
        raise typer.BadParameter(str(exc))
    names = (f"{report_a} [{mode}]", f"{report_b} [{mode_b}]") if mode_b else (str(report_a), str(report_b))
    typer.echo(format_comparison(*names, result, answers=answers))
    if json_out:
        json_out.write_text(json.dumps({"a": str(report_a), "b": str(report_b), "mode": mode, "mode_b": mode_b or mode,
                                        **result}, indent=2))


def report_command(
    ctx: typer.Context,
    set_dirs: List[Path] = typer.Option(..., "--set", help="Evaluation set folder or name under HOME/data/eval (repeat the flag)."),
    out_dir: Path = typer.Option(Path("docs/results"), "--out", help="Where report.json/.md and the plots go."),
    quick: bool = typer.Option(False, "--quick", help="A subset (100 retrieval / 40 robustness queries, search to 10k)."),
    queries: Optional[int] = typer.Option(None, help="Retrieval queries per set (overrides the plan)."),
    robustness_queries: Optional[int] = typer.Option(None, help="Queries per perturbed condition (overrides the plan)."),
    turns: Optional[int] = typer.Option(None, help="Spoken turns per mode for the latency table (overrides the plan)."),
    threads: int = typer.Option(0, help="torch threads (0 = torch's default)."),
) -> None:
    """Accuracy (SEAL vs ASR vs text, clean and perturbed), per-stage latency, search scale, memory."""
    import torch

    from rag_app.model_store import ModelNotAvailable
    from evaluation.report import ReportPlan, markdown, run_report
    from seal_model.data.eval_set import EvalSetError

    if threads:
        torch.set_num_threads(threads)
    settings = settings_of(ctx)
    # a bare name means a set built by `seal-rag data eval-set --name NAME`
    set_dirs = [d if d.is_dir() else settings.data_dir / "eval" / str(d) for d in set_dirs]
    plan = ReportPlan.quick() if quick else ReportPlan()
    for name, value in (("retrieval_queries", queries), ("robustness_queries", robustness_queries), ("turn_questions", turns)):
        if value:
            setattr(plan, name, value)
    with user_errors(EvalSetError, ModelNotAvailable, ValueError):
        result = run_report(settings, set_dirs, out_dir.resolve(), plan, log=typer.echo)
    typer.echo("\n" + markdown(result))
