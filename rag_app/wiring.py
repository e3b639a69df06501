"""Build the pipeline from settings: models loaded once and shared by every caller."""
from __future__ import annotations

from rag_app.settings import Settings


def make_llm(settings: Settings):
    """The OpenAI-compatible backend when a server URL is configured, else the embedded model."""
    if settings.llm_base_url:
        from rag_app.llm import OpenAICompatibleLLM

        llm = OpenAICompatibleLLM(settings.llm_base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s)
        if settings.llm_retries:  # replicas behind a router: finish an answer a dying replica cut (rag_app.llm_resume)
            from rag_app.llm_resume import ResumingLLM

            llm = ResumingLLM(llm, settings.llm_retries)
        return llm
    from rag_app.llm import LocalLLM
    from rag_app.model_store import resolve_model_dir
    from seal_model.device import resolve_device

    return LocalLLM(resolve_model_dir(settings, "llm"), resolve_device(settings.device))


def build_pipeline(settings: Settings, with_llm: bool = True, with_asr: bool = False):
    from rag_app.knowledge import open_knowledge_base
    from rag_app.model_store import load_seal_model, resolve_model_dir
    from rag_app.pipeline import Pipeline
    from rag_app.vad import SileroVAD
    from seal_model.device import resolve_device

    seal = load_seal_model(settings)
    transcriber = None
    if with_asr:
        from rag_app.asr import WhisperTranscriber

        transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"), resolve_device(settings.device))
    pipeline = Pipeline(
        seal, open_knowledge_base(settings, seal), make_llm(settings) if with_llm else None, SileroVAD(),
        transcriber, top_k=settings.top_k, max_seconds=settings.max_audio_seconds,
        max_new_tokens=settings.max_new_tokens,
    )
    pipeline.warm_up()
    return pipeline
