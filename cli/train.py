"""`seal-rag train`, `ablate` and `ship`: training SEAL, the ablation runs, and shipping a run.

The options of `train` and `ablate` are generated from `TrainConfig` and the ablation `Budget`
(`cli.options`): their defaults and help live with the configs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from cli.common import settings_of, user_errors
from cli.options import config_options
from evaluation.variants import Budget
from rag_app.settings import Settings
from seal_model.train_config import TrainConfig


class NoFeatures(Exception):
    """The feature cache a run needs is empty; the message says what to run."""


def training_paths(settings: Settings, recipe: str = "plain") -> dict[str, str]:
    """The TrainConfig fields that come from the settings: feature cache, corpus, base models."""
    from rag_app.model_store import resolve_model_dir
    from seal_model.data.speech_cache import cached_shards, speech_cache_dir

    whisper_dir = resolve_model_dir(settings, "whisper")
    cache_dir = speech_cache_dir(settings.data_dir, whisper_dir.name, recipe)
    if not cached_shards(cache_dir):
        raise NoFeatures(f"no cached features in {cache_dir}: run `seal-rag data corpus` and `seal-rag data speech`")
    return {"cache_dir": str(cache_dir), "corpus_dir": str(settings.data_dir / "corpus"), "whisper_dir": str(whisper_dir),
            "text_dir": str(resolve_model_dir(settings, "text_encoder")), "device": settings.device}


@config_options(TrainConfig)
def train_command(ctx: typer.Context, options: dict) -> None:
    """Train SEAL on the cached speech features (`seal-rag data speech` builds them)."""
    from seal_model.train import train

    try:
        cfg = TrainConfig(**options, **training_paths(settings_of(ctx), options["recipe"]))
    except NoFeatures as exc:
        raise typer.BadParameter(str(exc)) from None
    checkpoint = train(cfg, log=typer.echo)
    typer.echo(f"checkpoint: {checkpoint}")


@config_options(Budget)
def ablate_command(
    ctx: typer.Context,
    runs_dir: Optional[Path] = typer.Option(None, help="Where the variant runs go (default HOME/runs/ablation); reruns resume."),
    out_dir: Path = typer.Option(Path("docs/results"), "--out", help="ablation.json/.png go here; report.md and the README block are redrawn."),
    variants: str = typer.Option("stride4,stride8,stride2,no-stage1,pool-max,stride1,pool-cls,ctc-stride4,ctc-stride8",
                                 help="Comma-separated variant names, trained in this order (cheapest first)."),
    options: dict = None,
) -> None:
    """Stride 1/2/4/8, stage 1 on/off, pooling: one short training run each, then dev accuracy and latency."""
    from evaluation import ablation
    from evaluation.bench import sample_question_clips
    from evaluation.report import write_outputs

    settings = settings_of(ctx)
    with user_errors(NoFeatures):
        base = TrainConfig(run_dir="", **training_paths(settings))
    names = [n.strip() for n in variants.split(",") if n.strip()]
    unknown = sorted(set(names) - {v.name for v in ablation.VARIANTS})
    if unknown:
        raise typer.BadParameter(f"unknown variant(s) {unknown}; known: {[v.name for v in ablation.VARIANTS]}")
    by_name = {v.name: v for v in ablation.VARIANTS}
    chosen = [by_name[n] for n in dict.fromkeys(names)]
    budget = Budget(**options)
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


def ship_command(
    ctx: typer.Context,
    run_dir: Path = typer.Option(..., help="Training run folder (has checkpoint/, loss.csv)."),
    shards: Optional[int] = typer.Option(None, help="First N feature shards the run trained on (default: its train_config)."),
    eval_json: Optional[Path] = typer.Option(None, help="`seal-rag eval --json` output to put in the card."),
    out_dir: Optional[Path] = typer.Option(None, help="Default: the checkpoint the app ships with."),
) -> None:
    """Copy a run's checkpoint into the package with a generated data card."""
    from rag_app.model_store import DEFAULT_CHECKPOINT, resolve_model_dir
    from seal_model.card import data_stats, write_card
    from seal_model.data.speech_cache import run_shard_paths, speech_cache_dir

    settings = settings_of(ctx)
    report = json.loads(eval_json.read_text()) if eval_json else None
    config = json.loads((run_dir / "train_config.json").read_text())
    cache_dir = speech_cache_dir(settings.data_dir, resolve_model_dir(settings, "whisper").name, config.get("recipe", "plain"))
    if shards is not None:
        config = {**config, "max_shards": shards, "shards": None}
    stats = data_stats(run_shard_paths(cache_dir, config))
    out = write_card(run_dir, out_dir or DEFAULT_CHECKPOINT, stats, report)
    typer.echo(f"shipped {run_dir / 'checkpoint'} -> {out}")
