"""`seal-rag data ...`: build the SEAL training corpus and speech feature cache."""
from __future__ import annotations

import typer

from rag_app.settings import Settings

data_app = typer.Typer(help="Training data: corpus from bigbench, synthesized speech features.", no_args_is_help=True)


def _settings(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj


@data_app.command("corpus")
def corpus(ctx: typer.Context) -> None:
    """Download the bigbench sdist (not installed) and extract passages and questions."""
    from seal_model.data.bigbench import build_corpus

    settings = _settings(ctx)
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
) -> None:
    """Synthesize training speech and cache trimmed Whisper features (resumable)."""
    import torch

    from rag_app.model_store import resolve_model_dir
    from seal_model.data.speech_cache import build_speech_cache, parse_shard_spec
    from seal_model.device import resolve_device
    from seal_model.speech_encoder import WhisperSpeechEncoder

    settings = _settings(ctx)
    try:
        only = parse_shard_spec(shards) if shards else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--shards") from None
    torch.set_num_threads(threads)
    whisper_dir = resolve_model_dir(settings, "whisper")
    encoder = WhisperSpeechEncoder(whisper_dir).to(resolve_device(settings.device))
    cache_dir = settings.data_dir / "speech" / whisper_dir.name
    written = build_speech_cache(
        settings.data_dir / "corpus", cache_dir, encoder, max_shards, worker, workers, log=typer.echo, only=only
    )
    typer.echo(f"{written} shard(s) written to {cache_dir}")


@data_app.command("eval-set")
def eval_set(
    ctx: typer.Context,
    name: str = typer.Option("heldout-nq", help="Folder name under HOME/data/eval."),
    voices: str = typer.Option("flite:slt,piper:joe", help="Held-out voices, comma-separated."),
    questions: int = typer.Option(400, help="Test-split questions to speak."),
    kb_size: int = typer.Option(12000, help="Knowledge-base size (test passages + distractors)."),
    source: str = typer.Option("nq", help="nq (Natural Questions) or disfl_qa (disfluent questions)."),
) -> None:
    """Build an evaluation set from the test split, spoken by voices never trained on."""
    from seal_model.data.eval_set import build_eval_set

    settings = _settings(ctx)
    out = build_eval_set(
        settings.data_dir / "corpus", settings.data_dir / "eval" / name,
        tuple(v.strip() for v in voices.split(",")), questions, kb_size, source, log=typer.echo,
    )
    typer.echo(f"evaluation set: {out}")
