"""`seal-rag train` and `seal-rag eval`: the SEAL model's training and honest measurement."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from cli.common import load_set_and_model, settings_of


def train_command(
    ctx: typer.Context,
    run_dir: Path = typer.Option(..., help="Where checkpoints, loss.csv and loss.png go (resumes if present)."),
    stage0_steps: Optional[int] = typer.Option(None, help="CTC-only steps before the others (ctc length adapter); default 600 from scratch, 0 on a warm start."),
    stage1_steps: int = typer.Option(1500, help="Alignment steps."),
    stage2_steps: int = typer.Option(1000, help="Retrieval fine-tuning steps."),
    batch_size: int = typer.Option(48),
    lr: float = typer.Option(1e-3),
    temperature: float = typer.Option(0.05),
    hard_negatives: int = typer.Option(2, help="Mined hard negatives per question in stage 2."),
    length_adapter: str = typer.Option("ctc", help="ctc | conv"),
    conv_kernel: int = typer.Option(5),
    conv_stride: int = typer.Option(4),
    ctc_weight: float = typer.Option(0.2),
    trainable_text_layers: int = typer.Option(0, help="Top text-encoder layers fine-tuned on the speech side."),
    adapter_layers: int = typer.Option(0, help="Transformer layers over the adapter's conv frames, before the CTC head."),
    text_layer_lr_scale: float = typer.Option(0.1, help="Learning-rate factor for the fine-tuned text layers."),
    speech_pooling: str = typer.Option("mean", help="mean | max | cls (speech tower only)."),
    max_shards: Optional[int] = typer.Option(None, help="Use only the first N feature shards."),
    shards: Optional[str] = typer.Option(None, help="Use only these feature shards, e.g. 55-84,133-162."),
    init_from: Optional[Path] = typer.Option(None, help="Warm start from this checkpoint folder (its architecture wins, except that --trainable-text-layers and --adapter-layers may add layers)."),
    cosent_weight: float = typer.Option(0.0, help="Weight of the CoSENT term in stage 2 (0 = off)."),
    sentence_queries: bool = typer.Option(False, help="Stage 2 also retrieves each spoken passage sentence's own passage."),
    threads: int = typer.Option(2),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(250),
    recipe: str = typer.Option("plain", help="Which feature cache: plain or augmented (`seal-rag data speech --recipe`)."),
    ctc_full_vocab: bool = typer.Option(True, help="CTC over every word piece (rare ones behind the 'other' class); a warm start from a checkpoint without it adds it."),
    projection: str = typer.Option("speech", help="speech: stock text tower, projection on the speech side; shared: one layer on both towers (legacy)."),
    spec_augment: bool = typer.Option(False, help="SpecAugment-style time and channel masks on the cached features."),
) -> None:
    """Train SEAL on the cached speech features (`seal-rag data speech` builds them)."""
    from rag_app.model_store import resolve_model_dir
    from seal_model.data.speech_cache import cached_shards, speech_cache_dir
    from seal_model.train import TrainConfig, train

    settings = settings_of(ctx)
    whisper_dir = resolve_model_dir(settings, "whisper")
    cache_dir = speech_cache_dir(settings.data_dir, whisper_dir.name, recipe)
    if not cached_shards(cache_dir):
        raise typer.BadParameter(f"no cached features in {cache_dir}: run `seal-rag data corpus` and `seal-rag data speech`")
    cfg = TrainConfig(
        run_dir=str(run_dir), cache_dir=str(cache_dir), corpus_dir=str(settings.data_dir / "corpus"),
        whisper_dir=str(whisper_dir), text_dir=str(resolve_model_dir(settings, "text_encoder")),
        seed=seed, batch_size=batch_size, stage0_steps=stage0_steps, stage1_steps=stage1_steps, stage2_steps=stage2_steps, lr=lr,
        temperature=temperature, hard_negatives=hard_negatives, length_adapter=length_adapter,
        conv_kernel=conv_kernel, conv_stride=conv_stride, ctc_weight=ctc_weight,
        trainable_text_layers=trainable_text_layers, adapter_layers=adapter_layers, text_layer_lr_scale=text_layer_lr_scale, speech_pooling=speech_pooling, max_shards=max_shards, threads=threads, eval_every=eval_every,
        shards=shards, init_from=str(init_from) if init_from else None, cosent_weight=cosent_weight,
        sentence_queries=sentence_queries, device=settings.device, recipe=recipe, ctc_full_vocab=ctc_full_vocab,
        projection=projection, spec_augment=spec_augment,
    )
    checkpoint = train(cfg, log=typer.echo)
    typer.echo(f"checkpoint: {checkpoint}")


def eval_command(
    ctx: typer.Context,
    set_dir: Path = typer.Option(..., "--set", help="Evaluation set folder (passages.jsonl, queries.jsonl, audio)."),
    modes: str = typer.Option("seal,asr,text", help="Comma-separated: seal, asr, text, reading (SEAL's own CTC reading -> text tower: a diagnostic)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON."),
    limit: Optional[int] = typer.Option(None, help="Only the first N queries (quick look)."),
    threads: int = typer.Option(0, help="torch threads (0 = torch's default)."),
    reuse_transcripts: bool = typer.Option(True, help="Keep Whisper's transcripts (and their times) in the set's folder and reuse them: they do not depend on the SEAL checkpoint."),
) -> None:
    """Top-1/3/10 and MRR@10 per mode, voice and condition; speech->embedding latency p50/p95."""
    import dataclasses

    from evaluation.evaluate import MODES, evaluate, format_report
    from rag_app.model_store import resolve_model_dir

    settings = settings_of(ctx)
    chosen = tuple(m.strip() for m in modes.split(",") if m.strip())
    unknown = set(chosen) - set(MODES)
    if unknown:
        raise typer.BadParameter(f"unknown modes {sorted(unknown)}; use {', '.join(MODES)}")
    eval_set, seal = load_set_and_model(settings, set_dir, threads)
    transcriber = None
    if "asr" in chosen:
        from rag_app.wiring import make_transcriber

        transcriber = make_transcriber(settings)
    cache_file = set_dir / f"transcripts-{resolve_model_dir(settings, 'whisper').name}.json"
    transcripts = json.loads(cache_file.read_text()) if reuse_transcripts and cache_file.is_file() else {}
    report = evaluate(eval_set, seal, transcriber, chosen, limit, log=typer.echo,
                      transcripts=transcripts if reuse_transcripts else None)
    if reuse_transcripts and "asr" in chosen:
        cache_file.write_text(json.dumps(transcripts))
    typer.echo(format_report(report))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(dataclasses.asdict(report), indent=2))


def compare_command(
    report_a: Path = typer.Argument(..., help="`seal-rag eval --json` output of the baseline (A)."),
    report_b: Path = typer.Argument(..., help="`seal-rag eval --json` output of the candidate (B), same set."),
    mode: str = typer.Option("seal", help="Which mode's ranks to compare (seal, asr, text, reading)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the comparison as JSON."),
) -> None:
    """Query-by-query comparison of two evaluations: Top-1 and MRR@10 differences with paired
    bootstrap intervals and McNemar's exact test."""
    from evaluation.compare import format_comparison, paired_comparison

    ranks = []
    for path in (report_a, report_b):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc}")
        found = report.get("ranks", {}).get(mode) if isinstance(report, dict) else None
        if not found:
            raise typer.BadParameter(f"{path} has no per-query ranks for mode {mode!r} "
                                     "(rerun `seal-rag eval --json` with this version and that mode)")
        ranks.append(found)
    try:
        result = paired_comparison(*ranks)
    except ValueError as exc:
        raise typer.BadParameter(str(exc))
    typer.echo(format_comparison(str(report_a), str(report_b), result))
    if json_out:
        json_out.write_text(json.dumps({"a": str(report_a), "b": str(report_b), "mode": mode, **result}, indent=2))


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
