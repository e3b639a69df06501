"""Build the pipeline's parts from settings: the one place each model is constructed, so every
caller (CLI, web app, benchmarks, evaluation) gets the same device, folders and options."""
from __future__ import annotations

from rag_app.settings import Settings


def make_llm(settings: Settings):
    """The OpenAI-compatible backend when a server URL is configured, else the embedded model."""
    if settings.llm_base_url:
        from rag_app.llm import OpenAICompatibleLLM

        llm = OpenAICompatibleLLM(settings.llm_base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s,
                                  settings.llm_answer_timeout_s)
        if settings.llm_retries:  # replicas behind a router: finish an answer a dying replica cut (rag_app.llm_resume)
            from rag_app.llm_resume import ResumingLLM

            llm = ResumingLLM(llm, settings.llm_retries)
        return llm
    from rag_app.llm import LocalLLM
    from rag_app.model_store import resolve_model_dir

    return LocalLLM(resolve_model_dir(settings, "llm"), *generation_device(settings))


def make_transcriber(settings: Settings):
    """The ASR baseline: Whisper greedy decoding with the same weights as the SEAL speech tower."""
    from rag_app.asr import WhisperTranscriber
    from rag_app.model_store import resolve_model_dir

    device, dtype = generation_device(settings)
    return WhisperTranscriber(resolve_model_dir(settings, "whisper"), device, dtype=dtype,
                              silence_s=settings.decoder_silence_s, retry=settings.decoder_retry)


def generation_device(settings: Settings):
    """Device and number format of the models that write text (see Settings.generation_dtype)."""
    from seal_model.device import resolve_device, resolve_dtype

    device = resolve_device(settings.device)
    return device, resolve_dtype(settings.generation_dtype, device)


def make_vad(settings: Settings):
    from rag_app.vad import SileroVAD

    return SileroVAD(settings.vad_threshold, settings.vad_pad_ms)


def pipeline_options(settings: Settings) -> dict:
    """The Pipeline's options from settings (every builder of a pipeline passes these)."""
    return dict(top_k=settings.top_k, max_seconds=settings.max_audio_seconds, max_new_tokens=settings.max_new_tokens,
                reply_sentences=settings.reply_sentences, question_text=settings.question_text,
                seal_search=settings.seal_search, passage_chars=settings.passage_chars,
                passage_focus=settings.passage_focus,
                abstain_below=settings.abstain_below)


def build_pipeline(settings: Settings, with_llm: bool = True, with_asr: bool = False):
    from rag_app.knowledge import open_knowledge_base
    from rag_app.model_store import load_seal_model
    from rag_app.pipeline import Pipeline

    seal = load_seal_model(settings)
    pipeline = Pipeline(
        seal, open_knowledge_base(settings, seal), make_llm(settings) if with_llm else None, make_vad(settings),
        make_transcriber(settings) if with_asr or settings.question_text == "decoder" else None,
        **pipeline_options(settings),
    )
    pipeline.warm_up()
    return pipeline
