"""LLM faults end a turn with the passages and a notice: a server dying mid-answer, and the
embedded model's worker thread raising. No models: a fake server and a fake model."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from knowledge_base.store import Passage
from rag_app.llm import LLMError, LocalLLM, OpenAICompatibleLLM
from rag_app.pipeline import Pipeline

TOKENS = ["The ", "lighthouse ", "is "]


class _DyingServer(BaseHTTPRequestHandler):
    """OpenAI-compatible chat streaming that sends a few tokens, then dies: "drop" cuts the chunked
    body mid-message (a killed process), "close" ends it cleanly but without a finish reason."""

    protocol_version = "HTTP/1.1"
    mode = "drop"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if self.mode == "drop":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        for token in TOKENS:
            event = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}]}
            data = f"data: {json.dumps(event)}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if self.mode == "drop" else data)
            self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk, no [DONE]
        self.close_connection = True

    def log_message(self, *args):
        pass


def _serve(handler: type) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


@pytest.fixture(params=["drop", "close"])
def dying_server(request):
    server, url = _serve(type("Handler", (_DyingServer,), {"mode": request.param}))
    yield url
    server.shutdown()
    server.server_close()


class _TricklingServer(BaseHTTPRequestHandler):
    """Streams forever, just fast enough for the client's read timeout: "tokens" sends a token
    every 0.2 s, "bytes" one byte of an event every 0.2 s (no token ever completes)."""

    mode = "tokens"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        event = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "slow "}, "finish_reason": None}]}
        data = f"data: {json.dumps(event)}\n\n".encode()
        try:
            while True:
                for piece in ([data] if self.mode == "tokens" else [data[i:i + 1] for i in range(len(data))]):
                    self.wfile.write(piece)
                    self.wfile.flush()
                    time.sleep(0.2)
        except OSError:  # the client hung up: what the deadline must make it do
            self.hung_up.set()

    def log_message(self, *args):
        pass


@pytest.mark.faults(fault="LLM server trickles {mode} (a token or a byte every 0.2 s, forever)",
                    expected="the turn ends at its deadline with the passages and a notice; the app hangs up")
@pytest.mark.parametrize("mode, deadline", [("tokens", "too slow: the answer took over 2 s"),
                                            ("bytes", "stopped mid-answer (no token for 1 s)")], ids=["tokens", "bytes"])
def test_a_trickling_server_ends_the_turn_at_its_deadline(mode, deadline, observe):
    """Each read arrives within the 1 s read timeout, so the client's timeout alone never fired."""
    handler = type("Handler", (_TricklingServer,), {"mode": mode, "hung_up": threading.Event()})
    server, url = _serve(handler)
    try:
        pipeline = Pipeline(_Seal(), _KB(), OpenAICompatibleLLM(url, model="m", timeout_s=1, answer_timeout_s=2))
        started = time.perf_counter()
        events = _events(pipeline)
        elapsed = time.perf_counter() - started
        assert events["passages"] and deadline in events["notice"] and "trace" in events, events
        assert elapsed < 3.5 and handler.hung_up.wait(3)  # the connection is closed, not left streaming
        observe(f"ended after {elapsed:.1f} s: \"{events['notice']}\"; the server saw the client hang up")
    finally:
        server.shutdown()
        server.server_close()


class _Seal:
    def embed_text(self, texts):
        return np.zeros((len(texts), 4), np.float32)


class _KB:
    def search(self, vector, k):
        return [Passage("p1", "The lighthouse on Kelpie Island is red.", 0.9, {"source_name": "notes.txt"})]


def _within(seconds: float, work):
    """Run `work` in a thread, so a hang fails the test instead of stalling the suite."""
    result: dict = {}

    def run():
        try:
            result["value"] = work()
        except Exception as exc:  # noqa: BLE001 - handed back for the assertions
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "still waiting after a failure (a hang)"
    return result


def _events(pipeline: Pipeline) -> dict:
    def turn():
        events: dict = {"token": []}
        for event in pipeline.answer(text="what colour is the lighthouse?", mode="text"):
            events["token"].append(event.data) if event.kind == "token" else events.__setitem__(event.kind, event.data)
        return events

    result = _within(10, turn)
    assert "error" not in result, result.get("error")  # the turn never raises
    return result["value"]


def test_a_server_dying_mid_answer_raises_llm_error(dying_server):
    llm = OpenAICompatibleLLM(dying_server, model="m", timeout_s=5)
    pieces = []
    with pytest.raises(LLMError, match="stopped mid-answer"):
        for piece in llm.stream([{"role": "user", "content": "hi"}]):
            pieces.append(piece)
    assert pieces == TOKENS  # what arrived before the failure was streamed


@pytest.mark.faults(fault="LLM server killed mid-stream ({id}: the connection dropped / closed without a finish reason)",
                    expected="the tokens so far, the passages and a notice that the answer is cut short; no crash")
def test_a_server_dying_mid_answer_ends_the_turn_with_passages_and_a_notice(dying_server, observe):
    events = _events(Pipeline(_Seal(), _KB(), OpenAICompatibleLLM(dying_server, model="m", timeout_s=5)))
    assert events["passages"] and "".join(events["token"]) == "".join(TOKENS)
    assert "stopped mid-answer" in events["notice"] and "cut short" in events["notice"]
    assert "trace" in events  # the turn finished normally
    observe(f"{len(events['token'])} tokens shown, then \"{events['notice']}\"")


class _Batch(dict):
    def to(self, device):
        return self


class _Tokenizer:
    def apply_chat_template(self, messages, **kwargs):
        return _Batch(input_ids=torch.tensor([[1, 2, 3]]))

    def decode(self, ids, **kwargs):
        return "".join(f"w{int(i)} " for i in ids)


class _Model:
    """Streams a few tokens, then fails as generate() can (out of memory, a bad kernel)."""

    device = torch.device("cpu")

    def __init__(self, fail: bool):
        self.fail = fail

    def generate(self, input_ids, streamer, stopping_criteria=None, **kwargs):
        streamer.put(input_ids)  # the prompt, which the streamer skips
        for token in range(4, 8):
            streamer.put(torch.tensor([token]))
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        streamer.end()


def _drain(llm: LocalLLM) -> dict:
    return _within(10, lambda: list(llm.stream([{"role": "user", "content": "hi"}])))


@pytest.mark.faults(fault="embedded LLM raises in its worker thread (CUDA out of memory) mid-answer",
                    expected="the turn gets the error instead of waiting forever; the model lock is freed for the next turn")
def test_an_embedded_model_failure_reaches_the_turn_and_frees_the_model(observe):
    model = _Model(fail=True)
    llm = LocalLLM.from_parts("fake", _Tokenizer(), model)
    failed = _drain(llm)
    assert isinstance(failed.get("error"), LLMError) and "CUDA out of memory" in str(failed["error"])
    model.fail = False  # the next turn gets the model: the lock was released
    assert "".join(_drain(llm)["value"]) == "w4 w5 w6 w7 "
    observe("LLMError reached the waiting turn; the next turn got the model and a whole answer")


@pytest.mark.faults(fault="embedded LLM fails mid-answer, seen from the turn",
                    expected="the passages and a notice naming the error")
def test_an_embedded_model_failure_ends_the_turn_with_passages_and_a_notice(observe):
    llm = LocalLLM.from_parts("fake", _Tokenizer(), _Model(fail=True))
    events = _events(Pipeline(_Seal(), _KB(), llm))
    assert events["passages"] and "CUDA out of memory" in events["notice"] and "trace" in events
    observe(f"\"{events['notice']}\"")


class _EndlessModel(_Model):
    """Generates until its stopping criteria say stop, as transformers does."""

    def __init__(self):
        super().__init__(fail=False)
        self.stopped = threading.Event()

    def generate(self, input_ids, streamer, stopping_criteria=None, **kwargs):
        streamer.put(input_ids)
        for token in range(10, 100_000):
            streamer.put(torch.tensor([token]))
            if stopping_criteria[0](input_ids, None).all():
                break
        self.stopped.set()
        streamer.end()


@pytest.mark.faults(fault="a user leaves mid-answer (embedded LLM)",
                    expected="generation stops before the model lock is released (no second generation at once)")
def test_an_abandoned_turn_stops_the_model_before_freeing_it(observe):
    """A user leaving mid-answer closes the turn's generator: the worker must stop before the
    lock goes, or the next turn would run a second generation on the same model."""
    model = _EndlessModel()
    llm = LocalLLM.from_parts("fake", _Tokenizer(), model)

    def leave_early():
        stream = llm.stream([{"role": "user", "content": "hi"}])
        next(stream)
        stream.close()
        return model.stopped.is_set(), llm._lock.locked()

    assert _within(10, leave_early)["value"] == (True, False)
    observe("generation had stopped when the lock was released")
