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


class LocalLLM:
    """A transformers causal LM with a chat template, streamed token by token, greedy."""

    def __init__(self, model_dir: str | Path, device: torch.device | str = "cpu"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = Path(model_dir).name
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
        # One generation at a time: the model is shared by every user of the app.
        self._lock = threading.Lock()

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
