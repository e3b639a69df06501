"""`seal-rag data ...`: build the SEAL training corpus and speech feature cache."""
from __future__ import annotations

from pathlib import Path

import typer

from cli.common import settings_of

data_app = typer.Typer(help="Training data: corpus from bigbench, synthesized speech features.", no_args_is_help=True)


@data_app.command("corpus")
def corpus(ctx: typer.Context) -> None:
    """Download the bigbench sdist (not installed) and extract passages and questions."""
    from seal_model.data.bigbench import build_corpus

    settings = settings_of(ctx)
    passages, questions = build_corpus(settings.data_dir / "raw", settings.data_dir / "corpus")
    typer.echo(f"{passages} passages, {questions} questions in {settings.data_dir / 'corpus'}")


@data_app.command("speech")
def speech(
    ctx: typer.Context,
    worker: int = typer.Option(0, help="This worker's index (several can share the list)."),
    workers: int = typer.Option(1, help="How many workers share the list."),
    max_shards: int = typer.Option(None, help="Stop after this many shards of the list."),
    shards: str = typer.Option(None, help="Only these shards of the list, e.g. 55-84,133-162."),
    threads: int = typer.Option(1, help="torch threads for the Whisper encoder."),
    recipe: str = typer.Option("plain", help="plain (clean flite/espeak clips) or augmented (more voices, seeded acoustic chains)."),
) -> None:
    """Synthesize training speech and cache trimmed Whisper features (resumable)."""
    import torch

    from rag_app.model_store import resolve_model_dir
    from seal_model.data.speech_cache import build_speech_cache, parse_shard_spec, speech_cache_dir
    from seal_model.device import resolve_device
    from seal_model.speech_encoder import WhisperSpeechEncoder

    settings = settings_of(ctx)
    try:
        only = parse_shard_spec(shards) if shards else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--shards") from None
    torch.set_num_threads(threads)
    whisper_dir = resolve_model_dir(settings, "whisper")
    encoder = WhisperSpeechEncoder(whisper_dir).to(resolve_device(settings.device))
    try:
        cache_dir = speech_cache_dir(settings.data_dir, whisper_dir.name, recipe)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--recipe") from None
    written = build_speech_cache(
        settings.data_dir / "corpus", cache_dir, encoder, max_shards, worker, workers, log=typer.echo, only=only,
        recipe=recipe,
    )
    typer.echo(f"{written} shard(s) written to {cache_dir}")


@data_app.command("eval-set")
def eval_set(
    ctx: typer.Context,
    name: str = typer.Option("heldout-nq", help="Folder name under HOME/data/eval."),
    voices: str = typer.Option("flite:slt,piper:joe", help="Held-out voices, comma-separated."),
    questions: int = typer.Option(400, help="Test-split questions to speak."),
    kb_size: int = typer.Option(None, help="Knowledge-base size (test passages + distractors); default 12,000, 20,000 for --written."),
    source: str = typer.Option("nq", help="nq (Natural Questions) or disfl_qa (disfluent questions)."),
    written: str = typer.Option(None, help="Hand-written questions instead: a name under seal_model/data/sets (e.g. ood-names) or a JSONL path; spoken in every held-out voice plus noise and tempo variants (--voices and --questions do not apply)."),
) -> None:
    """Build an evaluation set from the test split, spoken by voices never trained on."""
    from seal_model.data.eval_set import WRITTEN_SETS, build_eval_set, build_written_set

    settings = settings_of(ctx)
    if written:
        questions_file = Path(written) if Path(written).suffix == ".jsonl" else WRITTEN_SETS / f"{written}.jsonl"
        if not questions_file.is_file():
            raise typer.BadParameter(f"no question file {questions_file}", param_hint="--written")
        out = build_written_set(settings.data_dir / "corpus", settings.data_dir / "eval" / name, questions_file,
                                kb_size=kb_size or 20000, log=typer.echo)
        typer.echo(f"evaluation set: {out}")
        return
    out = build_eval_set(
        settings.data_dir / "corpus", settings.data_dir / "eval" / name,
        tuple(v.strip() for v in voices.split(",")), questions, kb_size or 12000, source, log=typer.echo,
    )
    typer.echo(f"evaluation set: {out}")
