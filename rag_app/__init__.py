"""The application: settings, model cache, pipeline, LLM backends and the `seal-rag` CLI."""
