"""The one typed configuration of seal-rag.

Layers, later wins: built-in defaults <- TOML config file (`--config` or `SEAL_RAG_CONFIG`)
<- environment `SEAL_RAG_<FIELD>` <- CLI flags. This is the only module that reads the
environment, so every other module receives its settings explicitly and tests can build a
`Settings` without touching `os.environ`.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from seal_model.audio import WHISPER_SECONDS

ENV_PREFIX = "SEAL_RAG_"

# Offline hygiene: these libraries phone home unless told not to. Set (not read) once, early.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply_offline_environment() -> None:
    """Keep hub clients, Gradio and Chroma from reaching the network (only registries exist)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def _default_home() -> Path:
    return Path("~/.cache/seal-rag").expanduser()


GENERATION_DTYPES = ("auto", "float32", "bfloat16")  # see seal_model.device.resolve_dtype

# Whisper was trained on clips padded with silence to 30 s; on SEAL's trimmed states (speech only)
# its decoder misreads more (WER 0.22 vs 0.13 padded, heldout-nq) and sometimes stops after a word.
# Half a second of silence after the speech, in the same one encoder pass, gets much of the padded
# reading back for ~1-2% more encoder time. Chosen on 440 tuning clips reported nowhere, by a rule
# fixed before the full run (best decoder-search Top-1 over both sets, ties within 0.005 to the
# shorter): 0 / 0.5 / 1 / 2 s gave 0.575 / 0.627 / 0.625 / 0.616 (decoder_padding.py, stop 33).
DECODER_SILENCE_S = 0.5

QUESTION_TEXTS = ("reading", "decoder")  # see Settings.question_text and rag_app.pipeline
SEAL_SEARCHES = ("speech", "decoder")  # see Settings.seal_search and Pipeline.decoder_question
PASSAGE_FOCUSES = ("start", "question")  # see Settings.passage_focus and rag_app.focus


@dataclass(repr=False)
class Settings:
    """Every path, model choice, device and endpoint the application uses."""

    home: Path = field(default_factory=_default_home, metadata={"help": "cache and data folder"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    generation_dtype: str = field(default="auto", metadata={"help": "number format of the models that write text (the embedded LLM, Whisper's decoder): auto (bfloat16 where the CPU or GPU computes it natively, else float32), float32 or bfloat16. SEAL's vectors stay float32"})
    whisper: str = field(default="base", metadata={"help": "Whisper: 'base', 'tiny.en' or a local HF folder"})
    text_encoder: str = field(
        default="all-MiniLM-L6-v2", metadata={"help": "text embedder: 'all-MiniLM-L6-v2' or a local HF folder"}
    )
    llm: str = field(default="smollm2", metadata={"help": "embedded LLM: 'smollm2' or a local HF folder"})
    seal_checkpoint: Path | None = field(
        default=None, metadata={"help": "trained SEAL folder (default: the one shipped in seal_model/checkpoints)"}
    )
    chroma_path: Path | None = field(default=None, metadata={"help": "embedded Chroma folder (default HOME/chroma)"})
    chroma_url: str = field(default="", metadata={"help": "Chroma server URL; set = client/server mode"})
    collection: str = field(default="knowledge", metadata={"help": "Chroma collection name"})
    chroma_keep_free_mb: float = field(
        default=100.0, metadata={"help": "free disk an ingest leaves on the embedded Chroma folder, MB (Chroma hangs on a full disk)"}
    )
    llm_base_url: str = field(default="", metadata={"help": "OpenAI-compatible (vLLM) URL; set = use it"})
    llm_model: str = field(default="", metadata={"help": "model name on the LLM server"})
    llm_api_key: str = field(default="EMPTY", metadata={"help": "API key for the LLM server", "secret": True})
    llm_timeout_s: float = field(default=60.0, metadata={"help": "LLM server: longest wait for the answer to start or for its next token, seconds"})
    llm_answer_timeout_s: float = field(
        default=300.0, metadata={"help": "LLM server: longest a whole answer may take, seconds (a server trickling tokens is cut there)"}
    )
    llm_retries: int = field(default=0, metadata={"help": "ask the LLM server again when an answer fails or is cut (resumes it)"})
    top_k: int = field(default=2, metadata={"help": "passages retrieved per question (and read by the LLM)"})
    passage_chars: int = field(default=400, metadata={"help": "the LLM reads at most this many characters of each passage, whole sentences (0: whole passages; the sources shown stay whole)"})
    passage_focus: str = field(default="question", metadata={"help": "which sentences of a passage the LLM reads within passage_chars: start (its first ones) or question (its first one, then those sharing the most words with the question, in the passage's order)"})
    max_audio_seconds: float = field(
        default=WHISPER_SECONDS, metadata={"help": "longest recording accepted, seconds (at most 30: Whisper hears no more)"}
    )
    abstain_below: float = field(default=0.0, metadata={"help": "reply \"The documents don't say.\" without asking the LLM when the best passage's cosine similarity is below this (passages found with a text vector: typed, ASR or decoder words; SEAL's speech vector scores lower and is not gated). 0: off (default: a misheard name lowers the cosine of a question whose passage was found, see docs/results/answers); -1: auto (0.45 with all-MiniLM-L6-v2, set on a tuning split; off with other text encoders)"})
    max_new_tokens: int = field(default=200, metadata={"help": "longest answer the LLM may write, tokens"})
    question_text: str = field(default="decoder", metadata={"help": "what the LLM reads as the question in SEAL mode: decoder (Whisper's decoder on SEAL's encoder states: word error rate 0.18 vs 0.37 on the ood-names set, ~0.4-0.6 s on 2 CPU threads) or reading (SEAL's own CTC reading, free)"})
    seal_search: str = field(default="decoder", metadata={"help": "what SEAL mode's passages finally come from: decoder (SEAL's passages are shown at once, then replaced by those for Whisper's decoder words: Top-1 0.60 vs 0.31 on the ood-names set; with question_text=reading there are no decoder words and SEAL's stay) or speech (SEAL's speech vector only)"})
    decoder_silence_s: float = field(default=DECODER_SILENCE_S, metadata={"help": "seconds of silence appended to a question before SEAL's encoder pass whose states Whisper's decoder reads (question_text or seal_search decoder); SEAL's vector uses the speech frames only. Whisper reads states followed by silence better: decoder-search Top-1 0.575 -> 0.627 on 440 tuning clips for ~1-2% more encoder time (docs/results/ood-generalisation, stop 33). 0: trimmed speech only"})
    decoder_retry: bool = field(default=True, metadata={"help": "SEAL mode with the decoder's words (question_text or seal_search decoder): when its reading looks wrong (nothing usable, a phrase said twice, out of tokens before the sentence ended), transcribe the clip the padded ASR way instead. On 440 tuning clips it fired on 12-18% of turns: answers unchanged (6 gained, 6 lost), gold passage read +0.005 / +0.017, time to first token p50 +0.08-0.17 s, p90 +0.6-1.2 s (docs/results/answers, stop 38). Off: keep SEAL's reading and passages when the decoder's is unusable"})
    reply_sentences: int = field(default=3, metadata={"help": "a reply stops after this many sentences, at a sentence end and at a repeated sentence (0: as the LLM writes it)"})
    vad_threshold: float = field(default=0.5, metadata={"help": "speech probability (0-1) above which VAD keeps a frame"})
    vad_pad_ms: int = field(default=150, metadata={"help": "audio kept around the detected speech, ms"})
    conv_pause_s: float = field(default=0.7, metadata={"help": "conversation mode: this long a silence ends your turn, seconds"})
    conv_max_turn_s: float = field(default=20.0, metadata={"help": "conversation mode: a turn is cut (and answered) after this long, seconds"})
    conv_live_every_s: float = field(default=0.6, metadata={"help": "conversation mode: re-embed the audio heard so far this often while you speak, seconds (0: off)"})
    conv_barge_in_s: float = field(default=0.2, metadata={"help": "conversation mode: speech this long during a reply stops it, seconds"})
    conv_echo_gain: float = field(default=0.1, metadata={"help": "conversation mode: the loudest echo of the reply the microphone may hear, as a fraction of the reply's level (the barge-in guard ignores speech below it)"})
    ui_host: str = field(default="127.0.0.1", metadata={"help": "web app address (beyond localhost needs credentials)"})
    ui_port: int = field(default=7860, metadata={"help": "web app port"})
    ui_concurrency: int = field(default=2, metadata={"help": "chat turns computed at once; the rest queue"})
    ui_queue_size: int = field(default=64, metadata={"help": "turns allowed to wait in the queue"})
    ui_max_upload_mb: float = field(default=50.0, metadata={"help": "largest file the web app accepts, MB"})
    ui_user: str = field(default="", metadata={"help": "user name for the knowledge-base page"})
    ui_password: str = field(default="", metadata={"help": "password for the knowledge-base page", "secret": True})
    ui_protect_chat: bool = field(default=False, metadata={"help": "require the credentials for the chat page too"})
    ui_upload_max_age_s: int = field(
        default=900, metadata={"help": "recordings and uploads (chat and knowledge-base pages) are deleted from the temp folder after this long, seconds"}
    )

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def chroma_dir(self) -> Path:
        return self.chroma_path or self.home / "chroma"

    def _shown(self, name: str) -> Any:
        """A field's value, or *** for a secret that is set."""
        value = getattr(self, name)
        return "***" if SETTING_FIELDS[name].metadata.get("secret") and value not in ("", "EMPTY") else value

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, value, help) rows for display; secrets are masked."""
        return [(f.name, str(self._shown(f.name)), f.metadata.get("help", "")) for f in fields(self)]

    def __repr__(self) -> str:
        # The dataclass repr printed the API key and the UI password into any log or traceback
        # that showed the settings.
        return f"Settings({', '.join(f'{f.name}={self._shown(f.name)!r}' for f in fields(self))})"

    __str__ = __repr__


SETTING_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    """Turn a string / TOML value into the field's declared type, with a message naming the key."""
    if raw is None:
        return None
    origin_args = typing.get_args(annotation)
    target = next((a for a in origin_args if a is not type(None)), annotation) if origin_args else annotation
    try:
        if target is Path:
            return Path(str(raw)).expanduser()
        if target is float:
            return float(raw)
        if target is int:
            return int(raw)
        if target is bool:
            return str(raw).strip().lower() in ("1", "true", "yes", "on")
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"setting {name!r}: cannot read {raw!r} as {target.__name__}") from exc


def load_settings(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings through the four layers; `environ` defaults to the process environment."""
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(Settings)
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}

    config_file = config_file or environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise ValueError(f"config file {path} does not exist")
        data = tomllib.loads(path.read_text())
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"config file {path}: unknown settings {sorted(unknown)}")
        values.update(data)

    for name in known:
        env_value = environ.get(f"{ENV_PREFIX}{name.upper()}")
        if env_value is not None:
            values[name] = env_value

    for name, value in (overrides or {}).items():
        if name not in known:
            raise ValueError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = value

    settings = Settings(**{name: _coerce(name, value, hints[name]) for name, value in values.items()})
    if settings.device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"setting 'device' must be auto, cpu or cuda, not {settings.device!r}")
    if settings.generation_dtype not in GENERATION_DTYPES:
        raise ValueError(f"setting 'generation_dtype' must be {', '.join(GENERATION_DTYPES)}, not {settings.generation_dtype!r}")
    if settings.question_text not in QUESTION_TEXTS:
        raise ValueError(f"setting 'question_text' must be {' or '.join(QUESTION_TEXTS)}, not {settings.question_text!r}")
    if not 0 <= settings.decoder_silence_s <= 10:
        raise ValueError(f"setting 'decoder_silence_s' must be between 0 and 10 seconds, not {settings.decoder_silence_s:g}")
    if settings.seal_search not in SEAL_SEARCHES:
        raise ValueError(f"setting 'seal_search' must be {' or '.join(SEAL_SEARCHES)}, not {settings.seal_search!r}")
    if not 0 < settings.vad_threshold < 1 or settings.vad_pad_ms < 0:
        raise ValueError(f"settings 'vad_threshold' must be between 0 and 1 and 'vad_pad_ms' at least 0, not "
                         f"{settings.vad_threshold:g} and {settings.vad_pad_ms}")
    if settings.llm_timeout_s <= 0 or settings.llm_answer_timeout_s < settings.llm_timeout_s:
        raise ValueError(f"settings 'llm_timeout_s' must be above 0 and 'llm_answer_timeout_s' at least as long, not "
                         f"{settings.llm_timeout_s:g} and {settings.llm_answer_timeout_s:g}")
    if not 0 < settings.conv_pause_s < settings.conv_max_turn_s <= WHISPER_SECONDS:
        raise ValueError(f"settings 'conv_pause_s' and 'conv_max_turn_s' must satisfy 0 < pause < max turn <= "
                         f"{WHISPER_SECONDS:.0f}, not {settings.conv_pause_s:g} and {settings.conv_max_turn_s:g}")
    if settings.conv_live_every_s < 0 or settings.conv_barge_in_s <= 0 or settings.conv_echo_gain < 0:
        raise ValueError(f"settings 'conv_live_every_s' and 'conv_echo_gain' must be at least 0 and 'conv_barge_in_s' "
                         f"above 0, not {settings.conv_live_every_s:g}, {settings.conv_echo_gain:g} and {settings.conv_barge_in_s:g}")
    if settings.passage_focus not in PASSAGE_FOCUSES:
        raise ValueError(f"setting 'passage_focus' must be {' or '.join(PASSAGE_FOCUSES)}, not {settings.passage_focus!r}")
    if settings.passage_chars < 0:
        raise ValueError(f"setting 'passage_chars' must be at least 0 (0: whole passages), not {settings.passage_chars}")
    if settings.ui_upload_max_age_s < 1:
        raise ValueError(f"setting 'ui_upload_max_age_s' must be at least 1, not {settings.ui_upload_max_age_s}")
    if not 0 < settings.max_audio_seconds <= WHISPER_SECONDS:
        # Whisper's window: beyond it both speech paths would silently use the first 30 s only
        raise ValueError(f"setting 'max_audio_seconds' must be between 0 and {WHISPER_SECONDS:.0f} "
                         f"(Whisper hears {WHISPER_SECONDS:.0f} s at most), not {settings.max_audio_seconds:g}")
    return settings


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy with some fields changed (for tests and sub-commands)."""
    return dataclasses.replace(settings, **changes)
