"""HTML for the pages. Everything user- or document-supplied is escaped here, in one place, so a
passage containing markup or a script shows up as text."""
from __future__ import annotations

from html import escape

from knowledge_base.store import Passage
from rag_app.trace import ANSWER_STAGES, Stage, Trace

STAGE_COLOURS = {
    Stage.DECODE: "#8da0cb", Stage.VAD: "#a6d854", Stage.SPEECH_EMBEDDING: "#e78ac3", Stage.TRANSCRIPTION: "#fc8d62",
    Stage.TEXT_EMBEDDING: "#66c2a5", Stage.SEARCH: "#ffd92f",
    Stage.QUESTION_TEXT: "#d9d9d9", Stage.PROMPT: "#e5c494", Stage.FIRST_TOKEN: "#b3b3b3",
    Stage.GENERATION: "#80b1d3", Stage.END_OF_TURN: "#bebada", Stage.SYNTHESIS: "#fb8072",
}


def sources_title(mode: str, searches: int) -> str:
    """A turn's second search in SEAL mode is the one for Whisper's decoder words (seal_search="decoder",
    `Pipeline.decoder_question`): the title says which passages the LLM is reading."""
    if mode == "seal" and searches > 1:
        return "Sources (SEAL, searched again with Whisper's decoder words)"
    return f"Sources ({mode.upper()})"


def passages_html(passages: list[Passage], title: str = "Sources") -> str:
    if not passages:
        return f"<div class='sources'><h4>{escape(title)}</h4><p>No passages found: the knowledge base is empty.</p></div>"
    items = []
    for n, p in enumerate(passages, 1):
        name = p.metadata.get("source_name") or p.metadata.get("source", "")
        page = p.metadata.get("page")
        where = f"{name}, page {page}" if page not in (None, "") else name
        exact = "<span class='exact'>exact text</span> " if p.exact else ""
        items.append(
            f"<li class='source'><b>[{n}]</b> <span class='score'>{p.score:.3f}</span> {exact}"
            f"<span class='source-name'>{escape(str(where))}</span>"
            f"<div class='passage-text'>{escape(p.text[:600])}{'…' if len(p.text) > 600 else ''}</div></li>"
        )
    return f"<div class='sources'><h4>{escape(title)}</h4><ol>{''.join(items)}</ol></div>"


def latency_chart_html(traces: list[Trace]) -> str:
    """One stacked horizontal bar per mode, each stage a coloured segment with its milliseconds."""
    if not traces:
        return ""
    longest = max(t.total_ms for t in traces) or 1.0
    rows = []
    for trace in traces:
        segments = "".join(
            f"<div class='seg' title='{escape(stage)} {ms:.0f} ms' style='width:{100 * ms / longest:.2f}%;"
            f"background:{STAGE_COLOURS.get(stage, '#ccc')}'></div>"
            for stage, ms in trace.stages_ms.items()
        )
        legend = " · ".join(f"{escape(stage)} {ms:.0f} ms" for stage, ms in trace.stages_ms.items())
        if trace.first_audio_ms is not None:  # conversation mode: what the speaker waited for
            legend += f" · <b>end of speech → first audio {trace.first_audio_ms:.0f} ms</b>"
        rows.append(
            f"<div class='latency-row'><div class='latency-mode'>{escape(trace.mode.upper())} — total {trace.total_ms:.0f} ms"
            f"</div><div class='latency-bar' style='display:flex;height:18px;width:100%'>{segments}</div>"
            f"<div class='latency-legend'><small>{legend}</small></div></div>"
        )
    return f"<div id='latency-chart'><h4>Latency of the last turn</h4>{''.join(rows)}</div>"


def turn_row(number: int, trace: Trace, heard: str) -> list:
    """A row of the running table of past turns."""
    not_query = (*ANSWER_STAGES, Stage.END_OF_TURN, Stage.SYNTHESIS)  # conversation mode's pause and reading aloud
    speech_to_passages = sum(ms for stage, ms in trace.stages_ms.items() if stage not in not_query)
    first_audio = round(trace.first_audio_ms) if trace.first_audio_ms is not None else "-"
    return [number, trace.mode, heard[:60], round(speech_to_passages), round(trace.first_token_ms or 0), round(trace.total_ms),
            first_audio]


TURN_COLUMNS = ["turn", "mode", "heard", "speech→passages ms", "1st token ms", "total ms", "speech end→audio ms"]
