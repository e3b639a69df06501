"""`seal-rag eval-answers`: answer-level evaluation (rag_app.answer_eval) from the command line.

A sibling of `seal-rag eval` rather than a flag of it: it runs whole turns with an LLM and has
its own options, and the retrieval evaluation stays as it is.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import typer


def eval_answers_command(
    ctx: typer.Context,
    set_dir: Path = typer.Option(..., "--set", help="Evaluation set folder whose queries.jsonl rows carry \"answers\"."),
    modes: str = typer.Option("seal,asr,text", help="Comma-separated: seal, asr, text."),
    limit: Optional[int] = typer.Option(None, help="Only N queries, spread evenly over the set (voices, conditions, questions)."),
    question_text: Optional[str] = typer.Option(None, help="SEAL mode's question text for the LLM: whisper | seal-reading (default: the setting)."),
    without_gold: bool = typer.Option(False, "--without-gold", help="Hide each query's gold passages: measures abstention when the documents do not say."),
    max_new_tokens: Optional[int] = typer.Option(None, help="Longest answer, tokens (default: the setting)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the report (with every answer) as JSON."),
    threads: int = typer.Option(0, help="torch threads (0 = torch's default)."),
) -> None:
    """Whole turns with the configured LLM: answer accuracy, abstention, citation correctness,
    time to first token and answer length per mode, voice and condition."""
    from rag_app.answer_eval import MODES, SetKnowledgeBase, evaluate_answers, format_answer_report, spread
    from rag_app.commands_model import load_set_and_model
    from rag_app.evaluate import passage_index
    from rag_app.model_store import resolve_model_dir
    from rag_app.pipeline import Pipeline
    from rag_app.settings import QUESTION_TEXTS, replace
    from rag_app.vad import SileroVAD
    from rag_app.wiring import make_llm, make_question_reader
    from seal_model.device import resolve_device

    settings = ctx.find_root().obj
    chosen = tuple(m.strip() for m in modes.split(",") if m.strip())
    if set(chosen) - set(MODES):
        raise typer.BadParameter(f"unknown modes {sorted(set(chosen) - set(MODES))}; use {', '.join(MODES)}")
    if question_text is not None:
        if question_text not in QUESTION_TEXTS:
            raise typer.BadParameter(f"--question-text must be one of {', '.join(QUESTION_TEXTS)}")
        settings = replace(settings, question_text=question_text)
    eval_set, seal = load_set_and_model(settings, set_dir, threads)
    queries = spread([q for q in eval_set.queries if q.answers], limit)
    if not queries:
        typer.secho(f"error: no query in {set_dir / 'queries.jsonl'} has \"answers\"", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    transcriber = None
    if "asr" in chosen:
        from rag_app.asr import WhisperTranscriber

        transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"), resolve_device(settings.device))
    index = passage_index(eval_set, seal, log=typer.echo)
    try:
        pipeline = Pipeline(
            seal, SetKnowledgeBase(index, eval_set.passages), make_llm(settings), SileroVAD(), transcriber,
            top_k=settings.top_k, max_new_tokens=max_new_tokens or settings.max_new_tokens,
            question_reader=make_question_reader(settings, seal) if "seal" in chosen else None,
        )
        pipeline.warm_up()
        report = evaluate_answers(eval_set, pipeline, chosen, queries, without_gold, settings.question_text, log=typer.echo)
    finally:
        index.close()
    typer.echo(format_answer_report(report))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(dataclasses.asdict(report), indent=2))
