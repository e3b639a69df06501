"""`seal-rag ask --mic --conversation`: hands-free conversation with the local microphone and
speakers, the same loop as the web page's conversation mode (`rag_app.voice_session`).

The microphone is read by a sounddevice input stream (its callback only queues the audio), the
main thread feeds the session, each turn is answered on its own thread, and a player thread
plays reply sentences in 100 ms blocks so a barge-in silences it within one block.
"""
from __future__ import annotations

import queue
import threading
from typing import Any

import numpy as np
import typer

from cli.common import AnswerPrinter, fail

BLOCK_S = 0.1


def require_microphone(sd: Any, sample_rate: int) -> None:
    """Fail with a message a user can act on when there is no usable input device."""
    try:
        devices = sd.query_devices()
    except Exception as exc:  # noqa: BLE001 - PortAudio's errors vary by platform
        fail(f"no microphone: the audio system could not list devices ({exc}); ask with an audio file instead", 2)
    if not any(d.get("max_input_channels", 0) > 0 for d in devices):
        fail("no microphone: sounddevice lists no input device (check that one is plugged in and that this "
             "user may use it); ask with an audio file or --text instead", 2)
    try:
        sd.check_input_settings(samplerate=sample_rate, channels=1)
    except Exception as exc:  # noqa: BLE001
        fail(f"the microphone cannot record 16 kHz mono ({exc})", 2)


class Player:
    """Reply audio to the speakers, stoppable between 100 ms blocks. No output device: silent."""

    def __init__(self, sd: Any):
        self.sd, self.blocks, self.stop_flag = sd, queue.Queue(), threading.Event()
        try:
            sd.check_output_settings(channels=1)
            self.available = True
        except Exception:  # noqa: BLE001 - replies are then shown as text only
            self.available = False
        threading.Thread(target=self._play, daemon=True).start()

    def play(self, rate: int, samples: np.ndarray) -> None:
        self.stop_flag.clear()
        step = int(rate * BLOCK_S)
        for start in range(0, len(samples), step):
            self.blocks.put((rate, samples[start : start + step]))

    def stop(self) -> None:
        self.stop_flag.set()
        while not self.blocks.empty():
            self.blocks.get_nowait()

    def _play(self) -> None:
        stream, stream_rate = None, None
        while True:
            rate, block = self.blocks.get()
            if self.stop_flag.is_set() or not self.available:
                continue
            if rate != stream_rate:
                if stream is not None:
                    stream.close()
                stream, stream_rate = self.sd.OutputStream(samplerate=rate, channels=1, dtype="float32"), rate
                stream.start()
            stream.write(block.reshape(-1, 1).astype(np.float32))


def _answer(session, player: Player) -> None:
    from rag_app.trace import EventKind

    printer = AnswerPrinter()
    for event in session.run_turn():
        if event.kind == EventKind.HEARD:
            typer.secho(f"\nyou: {event.data}", fg=typer.colors.CYAN)
        elif event.kind == EventKind.TOKEN:
            printer.token(event.data)
        elif event.kind == EventKind.REPLY:
            printer.reply(event.data)
        elif event.kind == EventKind.AUDIO:
            player.play(*event.data)
        elif event.kind == EventKind.NOTICE:
            typer.secho(f"\nnotice: {event.data}", fg=typer.colors.YELLOW, err=True)
        elif event.kind == EventKind.TRACE:
            first = event.data.first_audio_ms
            typer.secho(f"\n(end of speech -> first audio {first:.0f} ms)" if first is not None else "", dim=True)


def converse(settings, no_llm: bool = False) -> None:
    """Listen, answer, listen again, until Ctrl-C."""
    import sounddevice as sd

    from rag_app.conversation import SAMPLE_RATE
    from rag_app.speak import SentenceVoice
    from rag_app.vad import SileroFrames
    from rag_app.voice_session import ConversationSession, UpdateKind, turn_options
    from rag_app.wiring import build_pipeline

    require_microphone(sd, SAMPLE_RATE)  # before the models load: a missing microphone is said at once
    pipeline = build_pipeline(settings, with_llm=not no_llm)
    voice = SentenceVoice()
    if not voice.available:
        typer.secho("notice: no Piper voice installed: replies are printed only", fg=typer.colors.YELLOW, err=True)
    voice.warm_up()
    pipeline.warm_up_llm()
    session = ConversationSession(pipeline, SileroFrames(), turn_options(settings), voice if voice.available else None)
    player, heard = Player(sd), queue.Queue()
    typer.secho("conversation mode: speak; pause to be answered; talk over a reply to stop it; Ctrl-C ends",
                fg=typer.colors.GREEN)
    with sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=int(SAMPLE_RATE * BLOCK_S),
                        callback=lambda data, frames, when, status: heard.put(data[:, 0].copy())):
        try:
            while True:
                for update in session.feed(heard.get()):
                    if update.kind == UpdateKind.STATUS:
                        typer.secho(f"[{update.data}]", dim=True)
                    elif update.kind == UpdateKind.LIVE and update.data.passages:
                        typer.secho(f"  (forming: {update.data.passages[0].text[:70]!r})", dim=True)
                    elif update.kind == UpdateKind.NOTICE:
                        typer.secho(f"notice: {update.data}", fg=typer.colors.YELLOW, err=True)
                    elif update.kind == UpdateKind.BARGE_IN:
                        player.stop()
                        typer.secho(f"\n[{update.data}]", fg=typer.colors.YELLOW)
                    elif update.kind == UpdateKind.TURN_READY:
                        threading.Thread(target=_answer, args=(session, player), daemon=True).start()
        except KeyboardInterrupt:
            session.stop()
            player.stop()
            typer.echo("\nbye")
