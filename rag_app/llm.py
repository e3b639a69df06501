"""LLM backends behind one streaming interface: `stream(messages) -> Iterator[str]`.

The embedded backend runs a small chat model in-process with transformers, so the app
answers with no server at all.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator, Protocol

import torch

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


class LLM(Protocol):
    name: str

    def stream(self, messages: list[Message], max_new_tokens: int = 256) -> Iterator[str]: ...


class LLMError(RuntimeError):
    """The LLM could not answer (server down, timeout, error status); the message says which."""


class OpenAICompatibleLLM:
    """Any OpenAI-compatible server; vLLM's `vllm serve` is the production path."""

    def __init__(self, base_url: str, model: str = "", api_key: str = "EMPTY", timeout_s: float = 60.0):
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout_s, max_retries=0)
        self.base_url = base_url
        self._model = model
        self.name = model or base_url

    def model(self) -> str:
        """The configured model, or the server's only/first one (vLLM serves one)."""
        if not self._model:
            self._model = self.client.models.list().data[0].id
            self.name = self._model
        return self._model

    def health(self) -> str:
        """One line for the status panel; never raises (the panel must render when the server is down)."""
        try:
            self.client.with_options(timeout=3.0).models.list()
            return f"up: {self.base_url} ({self.name})"
        except Exception as exc:  # noqa: BLE001 - any failure is a status to show
            return f"DOWN: {self.base_url} ({type(exc).__name__})"

    def stream(self, messages: list[Message], max_new_tokens: int = 256) -> Iterator[str]:
        import openai

        try:
            chunks = self.client.chat.completions.create(
                model=self.model(), messages=messages, max_tokens=max_new_tokens, temperature=0.0, stream=True
            )
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.APITimeoutError as exc:
            raise LLMError(f"the LLM server at {self.base_url} did not answer in time") from exc
        except openai.APIConnectionError as exc:
            raise LLMError(f"cannot reach the LLM server at {self.base_url}") from exc
        except openai.APIStatusError as exc:
            raise LLMError(f"the LLM server returned HTTP {exc.status_code}: {str(exc.message)[:200]}") from exc


class LocalLLM:
    """A transformers causal LM with a chat template, streamed token by token, greedy."""

    def __init__(self, model_dir: str | Path, device: torch.device | str = "cpu"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = Path(model_dir).name
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
        # One generation at a time: the model is shared by every user of the app.
        self._lock = threading.Lock()

    def health(self) -> str:
        return f"embedded {self.name} on {self.model.device}"

    def stream(self, messages: list[Message], max_new_tokens: int = 256) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(**inputs, streamer=streamer, max_new_tokens=max_new_tokens, do_sample=False)
        with self._lock:
            worker = threading.Thread(target=self._generate, kwargs=kwargs, daemon=True)
            worker.start()
            for piece in streamer:
                if piece:
                    yield piece
            worker.join()

    @torch.inference_mode()
    def _generate(self, **kwargs) -> None:
        self.model.generate(**kwargs)
