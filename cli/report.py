"""`seal-rag report`: regenerate docs/results/ and the README's Results block in one run."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from cli.common import fail, settings_of, user_errors


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


def ablate_command(
    ctx: typer.Context,
    runs_dir: Optional[Path] = typer.Option(None, help="Where the variant runs go (default HOME/runs/ablation); reruns resume."),
    out_dir: Path = typer.Option(Path("docs/results"), "--out", help="ablation.json/.png go here; report.md and the README block are redrawn."),
    variants: str = typer.Option("stride4,stride8,stride2,no-stage1,pool-max,stride1,pool-cls,ctc-stride4,ctc-stride8",
                                 help="Comma-separated variant names, trained in this order (cheapest first)."),
    stage1_steps: int = typer.Option(100),
    stage2_steps: int = typer.Option(150),
    stage0_steps: int = typer.Option(200, help="CTC warm-up steps (CTC variants only)."),
    batch_size: int = typer.Option(32),
    max_shards: int = typer.Option(20, help="Feature shards every variant trains on."),
    threads: int = typer.Option(2),
) -> None:
    """Stride 1/2/4/8, stage 1 on/off, pooling: one short training run each, then dev accuracy and latency."""
    import json

    from evaluation import ablation
    from evaluation.bench import sample_question_clips
    from rag_app.model_store import resolve_model_dir
    from evaluation.report import write_outputs
    from seal_model.data.speech_cache import cached_shards, speech_cache_dir
    from seal_model.train import TrainConfig

    settings = settings_of(ctx)
    whisper_dir = resolve_model_dir(settings, "whisper")
    cache_dir = speech_cache_dir(settings.data_dir, whisper_dir.name)
    if not cached_shards(cache_dir):
        fail(f"no cached features in {cache_dir}: run `seal-rag data corpus` and `seal-rag data speech`", 2)
    names = [n.strip() for n in variants.split(",") if n.strip()]
    unknown = sorted(set(names) - {v.name for v in ablation.VARIANTS})
    if unknown:
        raise typer.BadParameter(f"unknown variant(s) {unknown}; known: {[v.name for v in ablation.VARIANTS]}")
    by_name = {v.name: v for v in ablation.VARIANTS}
    chosen = [by_name[n] for n in dict.fromkeys(names)]
    budget = ablation.Budget(stage1_steps=stage1_steps, stage2_steps=stage2_steps, stage0_steps=stage0_steps,
                             batch_size=batch_size, max_shards=max_shards, threads=threads)
    base = TrainConfig(run_dir="", cache_dir=str(cache_dir), corpus_dir=str(settings.data_dir / "corpus"),
                       whisper_dir=str(whisper_dir), text_dir=str(resolve_model_dir(settings, "text_encoder")),
                       device=settings.device)
    clips = sample_question_clips(budget.latency_clips, "piper:joe")
    result = ablation.run_ablations(base, runs_dir or settings.home / "runs" / "ablation", budget, clips,
                                    tuple(chosen), log=typer.echo)
    out_dir = out_dir.resolve()
    ablation.save(result, out_dir)
    report_json = out_dir / "report.json"
    if report_json.exists():  # redraw report.md and the README block with the new table
        report = json.loads(report_json.read_text())
        report["ablations"] = result
        write_outputs(report, out_dir)
    typer.echo("\n" + ablation.markdown(result))
