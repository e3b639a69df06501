"""Eight users asking at once on 127.0.0.1: every turn completes (queued behind the concurrency
limit), none is lost or mixed up with another's."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import speak

QUESTIONS = ["what is the capital of france", "who wrote hamlet", "how tall is mount everest",
             "when did the second world war end", "what do bees make", "who painted the mona lisa",
             "what is the speed of light", "where is the great barrier reef"]


def test_eight_concurrent_chat_turns_all_complete(app_url, tmp_path):
    from gradio_client import Client, handle_file

    wavs = [speak(q, tmp_path / f"q{n}.wav") for n, q in enumerate(QUESTIONS)]

    def ask(wav):
        client = Client(app_url + "/", verbose=False)
        return client.predict(handle_file(str(wav)), "", "seal", False, api_name="/on_ask")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ask, wavs, timeout=600))
    assert len(results) == 8
    for question, result in zip(QUESTIONS, results):
        chat, latency = result[0], result[2]
        user, answer = _text(chat[0]), _text(chat[-1])
        assert len(chat) == 2 and chat[0]["role"] == "user" and user.startswith("(spoken)"), chat
        assert chat[-1]["role"] == "assistant" and answer.strip() not in ("", "…"), chat
        assert "latency-chart" in latency


def _text(message: dict) -> str:
    """Message content as the client returns it: a string or a list of typed parts."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))
