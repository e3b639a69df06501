"""`seal-rag ask`: one spoken (or typed) question, answered from the knowledge base."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from cli.common import AnswerPrinter, settings_of, user_errors

if TYPE_CHECKING:
    import numpy as np


def _record(seconds: float) -> np.ndarray:
    import numpy as np
    import sounddevice as sd

    from seal_model.audio import SAMPLE_RATE

    try:
        sd.check_input_settings(samplerate=SAMPLE_RATE, channels=1)
    except Exception as exc:
        raise typer.BadParameter(f"no usable microphone ({exc}); pass an audio file instead") from exc
    typer.echo(f"recording {seconds:.0f} s ... speak now")
    audio = sd.rec(int(seconds * SAMPLE_RATE), samplerate=SAMPLE_RATE, channels=1, dtype="float32")
    sd.wait()
    return np.asarray(audio)[:, 0]


def ask_command(
    ctx: typer.Context,
    audio: Optional[Path] = typer.Argument(None, help="Audio file (WAV, FLAC, OGG, MP3)."),
    text: Optional[str] = typer.Option(None, "--text", help="Type the question instead."),
    mic: bool = typer.Option(False, "--mic", help="Record from the microphone."),
    conversation: bool = typer.Option(False, "--conversation", help="With --mic: hands-free conversation (answered when you pause, spoken replies, barge-in)."),
    seconds: float = typer.Option(5.0, help="Recording length with --mic."),
    mode: str = typer.Option("seal", help="seal (speech embedding) | asr (transcribe first)."),
    no_llm: bool = typer.Option(False, "--no-llm", help="Retrieve only."),
) -> None:
    """Stream the answer, then the sources and the latency of every stage."""
    from knowledge_base.store import KnowledgeBaseError
    from rag_app.audio import AudioError, audio_seconds
    from rag_app.model_store import ModelNotAvailable
    from rag_app.trace import EventKind
    from rag_app.vad import NoSpeechError
    from rag_app.wiring import build_pipeline

    if conversation:
        if not mic or audio is not None or text is not None:
            raise typer.BadParameter("--conversation goes with --mic alone")
        from cli.conversation import converse

        with user_errors(KnowledgeBaseError, ModelNotAvailable, ValueError):
            converse(settings_of(ctx), no_llm=no_llm)
        return
    given = sum([audio is not None, text is not None, mic])
    if given != 1:
        raise typer.BadParameter("give exactly one of: an audio file, --text, --mic")
    if text is not None:
        mode = "text"
    source = _record(seconds) if mic else audio
    if audio is not None and not audio.is_file():
        raise typer.BadParameter(f"{audio} does not exist")
    with user_errors(AudioError, NoSpeechError, KnowledgeBaseError, ModelNotAvailable, ValueError):
        if audio is not None:  # a file that cannot be used is refused from its header, before the models load
            audio_seconds(audio, settings_of(ctx).max_audio_seconds)
        pipeline = build_pipeline(settings_of(ctx), with_llm=not no_llm, with_asr=mode == "asr")
        passages, printer = [], AnswerPrinter()
        for event in pipeline.answer(audio=source, text=text, mode=mode):
            if event.kind == EventKind.HEARD:
                typer.secho(f"heard ({mode}): {event.data}", fg=typer.colors.CYAN)
            elif event.kind == EventKind.PASSAGES:
                passages = event.data
            elif event.kind == EventKind.TOKEN:
                printer.token(event.data)
            elif event.kind == EventKind.REPLY:
                printer.reply(event.data)
            elif event.kind == EventKind.CITATIONS:
                typer.secho(f"\n({event.data.label()})", fg=typer.colors.CYAN)
            elif event.kind == EventKind.NOTICE:
                typer.secho(f"\nnotice: {event.data}", fg=typer.colors.YELLOW, err=True)
            elif event.kind == EventKind.TRACE:
                typer.echo("\n\nsources:")
                for n, p in enumerate(passages, 1):
                    name = p.metadata.get("source_name") or p.metadata.get("source", "")
                    typer.echo(f"  [{n}] {p.score:.3f} {name}: {p.text[:100].replace(chr(10), ' ')}")
                typer.echo("\nlatency:\n" + event.data.table())
