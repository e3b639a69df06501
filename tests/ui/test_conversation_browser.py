"""Conversation mode in a real browser (issue 19): Chromium's fake microphone plays a WAV made of
spoken questions and pauses; after one click on record, turns are detected, answered and spoken
with no further click, a question spoken over a reply stops it, and a monologue is cut."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import TINY_PASSAGES, load_16k, speak
from tests.ui.conftest import CONVERSATION_MAX_TURN_S, PASSWORD, USER, launch_with_microphone

RATE = 16_000
SCREENSHOTS = os.environ.get("SEAL_RAG_SCREENSHOTS", "")
TURN_TIMEOUT_MS = 240_000  # one answered turn on a loaded 2-core machine, with room
# Counts, in the page itself, the times the spoken-reply player starts playing from a stop (a
# new answer), not the resumptions after a stall while audio streams in (media events do not
# bubble: listen in the capture phase).
COUNT_PLAYING = """
window.__seal_starts = 0;
let stopped = true;
const inReply = (e) => e.target.closest && e.target.closest('#conv-reply');
for (const name of ['loadstart', 'emptied', 'ended', 'pause']) {
  document.addEventListener(name, (e) => { if (inReply(e)) stopped = true; }, true);
}
document.addEventListener('playing', (e) => {
  if (inReply(e) && stopped) { window.__seal_starts += 1; stopped = false; }
}, true);
"""

# The microphone through a gain the test opens and closes (silent until opened): Chromium's fake
# device plays its WAV from launch, so this is how a test says *when* the user speaks.
GATE = """
(() => {
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    if (!constraints || !constraints.audio) return stream;
    const context = new AudioContext();
    const gain = context.createGain();
    gain.gain.value = 0;
    context.createMediaStreamSource(stream).connect(gain);
    const out = context.createMediaStreamDestination();
    gain.connect(out);
    window.__seal_gate = gain;
    return out.stream;
  };
})();
"""


def _speak_for(page, seconds: float) -> None:
    page.evaluate("() => { window.__seal_gate.gain.value = 1; }")
    time.sleep(seconds)
    page.evaluate("() => { window.__seal_gate.gain.value = 0; }")


def _pause(seconds: float) -> np.ndarray:
    return (1e-3 * np.random.default_rng(0).standard_normal(int(seconds * RATE))).astype(np.float32)


def _wav(path: Path, parts: list[np.ndarray]) -> Path:
    sf.write(str(path), np.concatenate(parts), RATE, subtype="PCM_16")
    return path


def _clip(folder: Path, name: str, text: str, rate: int = 150) -> np.ndarray:
    return load_16k(speak(text, folder / f"{name}.wav", rate=rate))


def _upload(page, app_url: str, document: Path) -> None:
    """Add a document through the knowledge-base page, as an operator does."""
    page.goto(app_url + "/kb/")
    page.locator("input[type=text]").first.fill(USER)
    page.locator("input[type=password]").first.fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log ?in", re.I)).click()
    page.locator("#kb-files input[type=file]").set_input_files([str(document)])
    page.locator("#kb-ingest").click()
    page.locator("#kb-report").get_by_text(re.compile(r"Ingested 1 file")).wait_for()


def _conversation_page(playwright_driver, app_url: str, wav: Path, document: Path | None = None, gated: bool = False):
    browser = launch_with_microphone(playwright_driver, wav)
    context = browser.new_context(permissions=["microphone"], viewport={"width": 1400, "height": 1500})
    context.add_init_script(COUNT_PLAYING)
    if gated:
        context.add_init_script(GATE)
    page = context.new_page()
    page.set_default_timeout(60_000)
    if document is not None:
        _upload(page, app_url, document)
    page.goto(app_url + "/")
    _start_conversation(page)
    return browser, page


def _start_conversation(page, attempts: int = 3) -> None:
    """Press record (the only click), and make sure the microphone stream reached the server: a
    click landing while the page is still wiring its components records without streaming."""
    button = page.locator("#conv-mic button.record-button")
    for _ in range(attempts):
        try:
            with page.expect_request(lambda r: "/gradio_api/stream/" in r.url, timeout=10_000):
                button.click()
            return
        except PlaywrightTimeout:
            page.reload()
    pytest.fail("the conversation microphone never streamed to the server")


def _wait_for_turns(page, count: int) -> None:
    """Until the conversation has answered `count` turns (its state panel counts them)."""
    page.wait_for_function(
        "(n) => Number(document.querySelector('#conv-state')?.dataset.answered || 0) >= n",
        arg=count, timeout=TURN_TIMEOUT_MS, polling=500)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, np.ndarray]:
    folder = tmp_path_factory.mktemp("conv-mic")
    return {
        "first": _clip(folder, "first", "what is the highest mountain on earth"),
        "second": _clip(folder, "second", "which river carries the most water"),
        "interrupt": _clip(folder, "interrupt", "no stop, tell me about the eiffel tower instead please"),
        "monologue": _clip(folder, "monologue", (
            "I want to tell you about my trip to the mountains and the rivers and the lakes and the old towns "
            "and the people I met there and the food we ate every evening by the fire"), rate=175),
    }


def test_two_questions_are_answered_and_spoken_without_a_click(playwright_driver, app_url, clips, tmp_path):
    wav = _wav(tmp_path / "two.wav", [_pause(0.5), clips["first"], _pause(1.5), clips["second"], _pause(90)])
    facts = tmp_path / "geography.md"
    facts.write_text("\n\n".join(text for _, text in TINY_PASSAGES))
    browser, page = _conversation_page(playwright_driver, app_url, wav, facts)
    try:
        # the uploaded document is searched: the first question's sources name it. Read while that turn's
        # sources are shown, not after the second turn: the second question, misheard once through the
        # browser's microphone path ("which river carries..." as "We trimmer is the swagger."), got the
        # other two documents of this small knowledge base as its 2 sources (cosines 0.06 and -0.03);
        # with 3 sources (stops 30-35) such a turn still listed this one, so the end-of-test check passed
        page.wait_for_function("() => (document.querySelector('#sources')?.innerText || '').includes('geography.md')",
                               timeout=TURN_TIMEOUT_MS, polling=200)
        _wait_for_turns(page, 2)
        chat = page.locator("#chat").inner_text()
        assert chat.count("(spoken)") >= 2
        # each reply's audio reached the page's player and played
        page.wait_for_function("() => window.__seal_starts >= 2", timeout=TURN_TIMEOUT_MS)
        latency = page.locator("#latency").inner_text()
        assert "end of speech → first audio" in latency and "synthesis" in latency and "end_of_turn" in latency
        # live retrieval found passages with the audio heard so far, while the question was spoken
        assert "Forming while you speak" in page.locator("#conv-live").inner_text()
        assert page.locator("#conv-live li.source").count() >= 1
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SCREENSHOTS) / "conversation.png"), full_page=True)
    finally:
        page.screenshot(path=str(tmp_path / "conversation.png"), full_page=True)
        browser.close()


def test_speaking_over_the_reply_stops_it(playwright_driver, app_url, clips, tmp_path):
    # The fake microphone loops one phrase; a gate in the page (GATE) lets the test decide when
    # the user speaks: a question, then, once the page says the reply is being spoken, over it.
    gap = _pause(0.3)
    wav = _wav(tmp_path / "barge.wav", [part for _ in range(8) for part in (clips["interrupt"], gap)])
    browser, page = _conversation_page(playwright_driver, app_url, wav, gated=True)
    try:
        _speak_for(page, 3.0)  # the question
        page.locator("#conv-state[data-state='speaking']").wait_for(timeout=TURN_TIMEOUT_MS)
        page.wait_for_function("() => window.__seal_starts >= 1", timeout=TURN_TIMEOUT_MS)  # the reply plays
        page.evaluate("() => { window.__seal_gate.gain.value = 1; }")  # the user talks over it
        page.wait_for_function("() => (window.__seal_barge_ins || 0) >= 1", timeout=60_000)
        # the player was paused the moment the server saw the barge-in
        assert page.evaluate("() => [...document.querySelectorAll('#conv-reply audio')].every((a) => a.paused)")
        page.evaluate("() => { window.__seal_gate.gain.value = 0; }")
        page.locator("#notice").get_by_text("spoke over the reply", exact=False).wait_for()
        _wait_for_turns(page, 2)  # what was said over the reply is answered as the next turn
    finally:
        page.screenshot(path=str(tmp_path / "barge-in.png"), full_page=True)
        browser.close()


def test_a_monologue_is_cut_at_the_maximum_turn_length(playwright_driver, app_url, clips, tmp_path):
    assert len(clips["monologue"]) / RATE > CONVERSATION_MAX_TURN_S + 2
    wav = _wav(tmp_path / "monologue.wav", [_pause(0.5), clips["monologue"], _pause(90)])
    browser, page = _conversation_page(playwright_driver, app_url, wav)
    try:
        page.locator("#notice").get_by_text(re.compile(rf"{CONVERSATION_MAX_TURN_S:g} s limit")).wait_for(
            timeout=TURN_TIMEOUT_MS)
        _wait_for_turns(page, 1)  # what was said up to the limit is answered
    finally:
        page.screenshot(path=str(tmp_path / "monologue.png"), full_page=True)
        browser.close()
