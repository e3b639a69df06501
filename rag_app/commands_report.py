"""`seal-rag report`: regenerate docs/results/ and the README's Results block in one run."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


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
    from rag_app.report import ReportPlan, markdown, run_report
    from seal_model.data.eval_set import EvalSetError

    if threads:
        torch.set_num_threads(threads)
    settings = ctx.find_root().obj
    # a bare name means a set built by `seal-rag data eval-set --name NAME`
    set_dirs = [d if d.is_dir() else settings.data_dir / "eval" / str(d) for d in set_dirs]
    plan = ReportPlan.quick() if quick else ReportPlan()
    for name, value in (("retrieval_queries", queries), ("robustness_queries", robustness_queries), ("turn_questions", turns)):
        if value:
            setattr(plan, name, value)
    try:
        result = run_report(settings, set_dirs, out_dir.resolve(), plan, log=typer.echo)
    except (EvalSetError, ModelNotAvailable, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo("\n" + markdown(result))
