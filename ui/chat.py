"""The voice chat page: record or upload a question, watch the answer stream in with its sources
and the latency of every stage. It only calls the pipeline; no retrieval logic lives here."""
from __future__ import annotations

from typing import Callable, Iterator

import gradio as gr
import soundfile as sf

from knowledge_base.store import KnowledgeBaseError
from rag_app.audio import AudioError, audio_seconds
from rag_app.pipeline import Pipeline
from rag_app.speak import reply_voice_available, speak
from rag_app.trace import EventKind
from rag_app.vad import NoSpeechError
from ui.conversation import build_conversation
from ui.render import TURN_COLUMNS, latency_chart_html, passages_html, sources_title, turn_row
from ui.status import public, signed_in, status_markdown
from ui.uploads import delete_cache

MODE_CHOICES = [("SEAL (speech embedding)", "seal"), ("ASR (transcribe first)", "asr"), ("Both, side by side", "both")]
USER_ERRORS = (AudioError, NoSpeechError, KnowledgeBaseError, ValueError)


def _turn(pipeline: Pipeline, audio, text: str, mode: str, history: list, generate: bool = True) -> Iterator[tuple[str, object]]:
    # the whole history goes in; build_messages keeps the recent turns
    for event in pipeline.answer(audio=audio, text=text, mode=mode, history=history, generate=generate):
        yield event.kind, event.data


def respond(pipeline: Pipeline, audio_path: str | None, typed: str, mode: str, spoken_reply: bool,
            chat: list, history: list, turns: list, shown: Callable[[str], str] = str) -> Iterator[tuple]:
    """Gradio generator: (chat, sources, latency, turns, notice, reply audio, history, turns).
    `shown` filters what the user reads of a failure (the page hides server addresses and paths
    from anyone not signed in)."""
    chat, history, turns = list(chat or []), list(history or []), list(turns or [])
    typed = (typed or "").strip()
    if not audio_path and not typed:
        hint = ("Record or upload a question (or type one) first. Just stopped a recording? "
                "Wait for *Question audio received*, then press Ask again.")
        yield chat, gr.skip(), gr.skip(), gr.skip(), hint, None, history, turns
        return
    primary = "text" if typed and not audio_path else ("seal" if mode == "both" else mode)
    source = None if primary == "text" else audio_path
    heard, answer, notice = "", "", ""
    passages, traces, searches = [], [], 0
    chat.append({"role": "user", "content": typed or "(spoken question)"})
    chat.append({"role": "assistant", "content": "…"})
    try:
        for kind, data in _turn(pipeline, source, typed, primary, history):
            if kind == EventKind.HEARD:
                heard = data
                chat[-2] = {"role": "user", "content": f"(spoken) {data}" if primary != "text" else data}
            elif kind == EventKind.PASSAGES:
                passages, searches = data, searches + 1
                yield chat, passages_html(passages, sources_title(primary, searches)), gr.skip(), gr.skip(), "", None, history, turns
            elif kind in (EventKind.TOKEN, EventKind.REPLY):  # REPLY: the kept text replaces what was shown
                answer = answer + data if kind == EventKind.TOKEN else data
                chat[-1] = {"role": "assistant", "content": answer}
                yield chat, gr.skip(), gr.skip(), gr.skip(), "", None, history, turns
            elif kind == EventKind.CITATIONS:  # shown under the answer, kept out of the history and the spoken reply
                chat[-1] = {"role": "assistant", "content": f"{answer}\n\n*{data.label()}*"}
            elif kind == EventKind.NOTICE:
                notice = shown(data)
            elif kind == EventKind.TRACE:
                traces.append(data)
        sources = passages_html(passages, sources_title(primary, searches))
        if mode == "both" and primary == "seal":
            asr_passages, asr_heard = [], ""
            for kind, data in _turn(pipeline, source, "", "asr", history, generate=False):
                if kind == EventKind.PASSAGES:
                    asr_passages = data
                elif kind == EventKind.HEARD:
                    asr_heard = data
                elif kind == EventKind.TRACE:
                    traces.append(data)
            sources = (f"<div style='display:flex;gap:1em'><div style='flex:1'>{sources}</div><div style='flex:1'>"
                       f"{passages_html(asr_passages, 'Sources (ASR: ' + asr_heard + ')')}</div></div>")
    except USER_ERRORS as exc:
        chat[-1] = {"role": "assistant", "content": f"⚠️ {shown(str(exc))}"}
        yield chat, gr.skip(), gr.skip(), gr.skip(), f"**Could not use this question:** {shown(str(exc))}", None, history, turns
        return
    if not answer:
        chat[-1] = {"role": "assistant", "content": notice or "(no answer)"}
    history.append((heard or typed, answer))
    for trace in traces:
        turns.append(turn_row(len(history), trace, heard if trace.mode != "asr" else "(asr)"))
    reply = speak(answer) if spoken_reply and answer else None
    yield chat, sources, latency_chart_html(traces), turns, notice and f"**Notice:** {notice}", reply, history, turns


def audio_notice(audio_path: str | None, max_seconds: float | None = None) -> str:
    """Said as soon as a recording or upload reaches the server: a recording uploads a moment
    after Stop, and Ask pressed before that would find no question. A file that cannot be used
    (not audio, a damaged header, over the length limit) is named now, not only after Ask."""
    if not audio_path:
        return ""
    try:
        return f"Question audio received ({audio_seconds(audio_path, max_seconds):.1f} s): press **Ask**."
    except (AudioError, OSError) as exc:
        return f"**Could not use this audio:** {exc}"


def _decoder_reads(path: str) -> bool:
    try:
        sf.info(path)
        return True
    except Exception:  # noqa: BLE001 - libsndfile raises several types for what it cannot read
        return False


def question_audio(**kwargs) -> gr.Audio:
    """`gr.Audio` that hands the handlers every file that arrives.

    Gradio converts any non-WAV upload with ffmpeg before a handler runs; when it cannot (no
    ffmpeg, or not audio at all) the event fails with a bare error and the page says nothing.
    So files our decoder reads (WAV, FLAC, OGG, MP3) pass as they are, other files are still
    offered to Gradio's conversion, and what neither can read reaches `audio_notice` and the
    pipeline, which say what is wrong with it. (The instance's preprocess is wrapped rather than
    subclassed: Gradio writes a .pyi stub beside any module that defines a component class.)
    """
    audio = gr.Audio(**kwargs)
    convert = audio.preprocess

    def preprocess(payload):
        if payload is None or not payload.path:
            return convert(payload)
        if _decoder_reads(payload.path):
            return payload.path
        try:
            return convert(payload)
        except Exception:  # noqa: BLE001 - whatever failed, the handlers name the problem
            return payload.path

    audio.preprocess = preprocess
    return audio


def build_chat_page(pipeline: Pipeline, settings) -> gr.Blocks:
    # Recordings and dropped files are deleted by age (Gradio's delete_cache): they used to stay in
    # the temp folder forever, whoever sent them. Answers' spoken replies go the same way.
    with gr.Blocks(title="seal-rag: ask by voice", delete_cache=delete_cache(settings.ui_upload_max_age_s)) as page:
        gr.Markdown("# Ask by voice\nSpeak a question; it is embedded directly (SEAL) and answered from the knowledge base.")
        history = gr.State([])
        turns_state = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=360, elem_id="chat")
                notice = gr.Markdown(elem_id="notice")
                with gr.Row():
                    audio = question_audio(sources=["microphone", "upload"], type="filepath", format="wav",
                                           label="Your question", elem_id="question-audio")
                    with gr.Column():
                        typed = gr.Textbox(label="…or type it", placeholder="optional", elem_id="typed-question")
                        mode = gr.Radio(MODE_CHOICES, value="seal", label="Retrieval", elem_id="mode")
                        spoken = gr.Checkbox(label="Speak the answer", value=False, visible=reply_voice_available())
                with gr.Row():
                    ask = gr.Button("Ask", variant="primary", elem_id="ask")
                    new = gr.Button("New conversation", elem_id="new-conversation")
                reply_audio = gr.Audio(label="Spoken answer", autoplay=True, visible=reply_voice_available())
            with gr.Column(scale=2):
                sources = gr.HTML(elem_id="sources")
                latency = gr.HTML(elem_id="latency")
        turns = gr.Dataframe(headers=TURN_COLUMNS, label="Past turns", elem_id="turns", interactive=False)
        build_conversation(page, pipeline, settings, chat, sources, latency, turns, turns_state, notice)
        with gr.Accordion("Status", open=False):
            status = gr.Markdown()

        def on_ask(audio_path: str | None, question: str, retrieval: str, spoken_reply: bool, messages: list,
                   past: list, rows: list, request: gr.Request) -> Iterator[tuple]:
            reveal = signed_in(request)
            yield from respond(pipeline, audio_path, question, retrieval, spoken_reply, messages, past, rows,
                               shown=lambda text: text if reveal else public(text, settings))

        ask.click(
            on_ask,
            inputs=[audio, typed, mode, spoken, chat, history, turns_state],
            outputs=[chat, sources, latency, turns, notice, reply_audio, history, turns_state],
            concurrency_id="turn",
        )

        def on_audio(path):
            return audio_notice(path, pipeline.max_seconds)

        audio.change(on_audio, audio, notice, queue=False)
        new.click(lambda: ([], "", "", [], "", None, [], []), None,
                  [chat, sources, latency, turns, notice, reply_audio, history, turns_state])

        def on_load(request: gr.Request) -> str:
            return status_markdown(pipeline, settings, reveal=signed_in(request))

        page.load(on_load, None, status)
    return page
