"""LLM backends behind one interface (`rag_app.protocols.LLM`): `stream(messages) -> Iterator[str]`
and `health()`.

The embedded backend runs a small chat model in-process with transformers, so the app
answers with no server at all.
"""
from __future__ import annotations

import queue
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import torch

from rag_app.prompt_cache import PromptCache
from rag_app.protocols import Message
from rag_app.repeats import repeating_tokens


class LLMError(RuntimeError):
    """The LLM could not answer (server down, timeout, error status); the message says which."""


class AnswerTooSlow(LLMError):
    """The whole answer took longer than its deadline (a server trickling tokens); not retried,
    since the user has already waited the whole budget."""


class OpenAICompatibleLLM:
    """Any OpenAI-compatible server; vLLM's `vllm serve` is the production path."""

    def __init__(self, base_url: str, model: str = "", api_key: str = "EMPTY", timeout_s: float = 60.0,
                 answer_timeout_s: float = 300.0):
        from openai import OpenAI

        # timeout_s bounds each network read; the stream's own deadlines are in _read
        self.client = OpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout_s, max_retries=0)
        self.base_url, self.timeout_s, self.answer_timeout_s = base_url, timeout_s, max(answer_timeout_s, timeout_s)
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

        started = time.monotonic()
        try:
            chunks = self.client.chat.completions.create(
                model=self.model(), messages=messages, max_tokens=max_new_tokens, temperature=0.0, stream=True
            )
        except openai.APITimeoutError as exc:
            raise LLMError(f"the LLM server at {self.base_url} did not answer in time") from exc
        except openai.APIConnectionError as exc:
            raise LLMError(f"cannot reach the LLM server at {self.base_url}") from exc
        except openai.APIStatusError as exc:
            raise LLMError(f"the LLM server returned HTTP {exc.status_code}: {str(exc.message)[:200]}") from exc
        yield from self._read(chunks, started)

    def _read(self, chunks, started: float) -> Iterator[str]:
        """The streamed answer, within two deadlines: no token for `timeout_s` is a stall, and the
        whole answer may take `answer_timeout_s`. The client's read timeout alone missed a server
        that trickles tokens (or bytes) just faster than it, and the turn never ended; so another
        thread reads the stream and this one waits for each piece with a deadline.

        Once the server has answered, any failure means the answer was cut short: a dropped
        connection surfaces as openai's or the HTTP library's own types depending on versions,
        and a stream that ends cleanly without a finish reason was cut too (a server killed
        behind a proxy)."""
        pieces: queue.Queue = queue.Queue()

        def pump() -> None:
            try:
                for chunk in chunks:
                    pieces.put((chunk, None))
                pieces.put((None, None))
            except BaseException as exc:  # noqa: BLE001 - handed to the reading turn
                pieces.put((None, exc))

        threading.Thread(target=pump, daemon=True, name="llm-stream").start()
        finished = ended = False
        try:
            while True:
                left = self.answer_timeout_s - (time.monotonic() - started)
                try:
                    chunk, error = pieces.get(timeout=max(0.0, min(self.timeout_s, left)))
                except queue.Empty:
                    raise self._late(time.monotonic() - started >= self.answer_timeout_s) from None
                ended = chunk is None
                if error is not None:
                    raise self._cut(error) from error
                if ended:
                    break
                if chunk.choices:
                    choice = chunk.choices[0]
                    if choice.delta is not None and choice.delta.content:
                        yield choice.delta.content
                    finished = finished or choice.finish_reason is not None
        finally:
            if not ended:  # a late or abandoned answer: stop the reading thread and the server's work
                _hang_up(chunks)
        if not finished:
            raise LLMError(f"the LLM server at {self.base_url} stopped mid-answer (the stream ended without a finish reason)")

    def _late(self, whole_answer: bool) -> LLMError:
        if whole_answer:
            return AnswerTooSlow(f"the LLM server at {self.base_url} is too slow: the answer took over "
                                 f"{self.answer_timeout_s:g} s")
        return LLMError(f"the LLM server at {self.base_url} stopped mid-answer (no token for {self.timeout_s:g} s)")

    def _cut(self, exc: BaseException) -> LLMError:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return self._late(False)
        cause = exc.__cause__ or exc  # the cause's type goes into the message
        return LLMError(f"the LLM server at {self.base_url} stopped mid-answer ({type(cause).__name__})")


def _hang_up(chunks) -> None:
    """Stop a stream another thread may be blocked reading: shutting its socket wakes that read at
    once (closing alone would wait for the read timeout, and a trickle never hits it)."""
    try:
        stream = chunks.response.extensions["network_stream"]
        stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
    except Exception:  # noqa: BLE001 - already closed, or a transport without a socket
        try:
            chunks.close()
        except Exception:  # noqa: BLE001 - nothing more to stop
            pass


class _StopWhenSet:
    """A stopping criterion: generation ends at the next token once the event is set."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class NoRepeatInAnswer:
    """Small models loop inside a sentence ("the voice of the voice of ..."), which the reply's
    sentence-level repeat check cannot see: a repeated `n`-gram of the answer is banned. Only the
    answer counts. transformers' `no_repeat_ngram_size` counts the prompt too, so the answer could
    not copy six tokens in a row from the passages or the question ("owned by Wynn Resorts"), which
    is what a grounded answer does; it also scanned the whole prompt at every token (~0.2 s on an
    800-token prompt on 2 CPU threads)."""

    def __init__(self, n: int, prompt_length: int):
        self.n, self.prompt_length = n, prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for row, ids in enumerate(input_ids):
            banned = repeating_tokens(ids[self.prompt_length:].tolist(), self.n)
            if banned:
                scores[row, banned] = -float("inf")
        return scores


def token_streamer(tokenizer):
    """A `TextIteratorStreamer` that hands out each token's text as soon as it is whole. The stock
    one holds text back to the last space (it was written for tokenizers whose pieces change the
    spacing of earlier text), so the first word reached the page one decode step after the
    prefill. A byte-level BPE (SmolLM2's, with no clean-up of spaces) decodes a prefix of the
    tokens to a prefix of the text, except for a character split across tokens (held until whole)."""
    from transformers import TextIteratorStreamer

    class TokenStreamer(TextIteratorStreamer):
        def put(self, value: torch.Tensor) -> None:
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            self.token_cache.extend(value.reshape(-1).tolist())
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            if text.endswith("\ufffd") or len(text) <= self.print_len:
                return
            self.on_finalized_text(text[self.print_len:])
            self.print_len = len(text)

    return TokenStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


class LocalLLM:
    """A transformers causal LM with a chat template, streamed token by token, greedy."""

    def __init__(self, model_dir: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
        self._setup(Path(model_dir).name, tokenizer, model)

    @classmethod
    def from_parts(cls, name: str, tokenizer, model) -> "LocalLLM":
        """An already loaded tokenizer and model (tests pass fakes)."""
        llm = cls.__new__(cls)
        llm._setup(name, tokenizer, model)
        return llm

    def _setup(self, name: str, tokenizer, model) -> None:
        self.name, self.tokenizer, self.model = name, tokenizer, model
        # One generation at a time: the model is shared by every user of the app.
        self._lock = threading.Lock()
        self._prompt_cache = PromptCache()  # the shared start of consecutive prompts is read once

    def health(self) -> str:
        return f"embedded {self.name} on {self.model.device}, {str(getattr(self.model, 'dtype', '')).removeprefix('torch.')}"

    def stream(self, messages: list[Message], max_new_tokens: int = 256) -> Iterator[str]:
        """Tokens as the worker thread generates them. A worker that raises ends the stream and its
        error reaches this turn as `LLMError` (otherwise the turn would wait forever on the streamer
        while holding the model lock); a turn abandoned mid-answer stops the worker before the
        lock goes."""
        from transformers import LogitsProcessorList, StoppingCriteriaList

        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)
        streamer = token_streamer(self.tokenizer)
        stop = threading.Event()
        failures: list[BaseException] = []
        sequences: list[torch.Tensor] = []
        kwargs = dict(**inputs, streamer=streamer, max_new_tokens=max_new_tokens, do_sample=False,
                      logits_processor=LogitsProcessorList([NoRepeatInAnswer(6, inputs["input_ids"].shape[-1])]),
                      stopping_criteria=StoppingCriteriaList([_StopWhenSet(stop)]))

        def work() -> None:
            try:
                sequences.append(self._generate(**kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting turn, which re-raises it
                failures.append(exc)
                streamer.end()  # wakes the turn blocked on the streamer

        with self._lock:
            kwargs["cache"] = cache = self._prompt_cache.take(inputs["input_ids"][0].tolist())
            worker = threading.Thread(target=work, daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                stop.set()
                worker.join()
                if sequences and isinstance(sequences[0], torch.Tensor):
                    self._prompt_cache.keep(cache, sequences[0][0].tolist())
        if failures:
            error = failures[0]
            raise LLMError(f"the embedded LLM failed mid-answer ({type(error).__name__}: {str(error)[:200]})") from error

    @torch.inference_mode()
    def _generate(self, **kwargs):
        return self.model.generate(**kwargs)
