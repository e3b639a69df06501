"""The two pages in a real browser: record a spoken question with a (fake) microphone, upload
documents, see sources and the latency chart, escaping, and credentials."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from tests.ui.conftest import PASSWORD, USER

KELPIE = ("Kelpie Island lighthouse. The Zorblax lighthouse on Kelpie Island is painted bright violet with white "
          "stripes. The fishermen's guild built it in 1911 and its lamp can be seen for thirty miles.")
HARBOUR = ("Harbour notes. <script>window.__seal_xss = 1</script><img src=x onerror=\"window.__seal_xss = 2\"> "
           "The ferry to the mainland leaves the harbour at noon every day except Sunday.")
SCREENSHOTS = os.environ.get("SEAL_RAG_SCREENSHOTS", "")  # a folder: the README's screenshots come from here


def _log_in(page, url: str, user: str, password: str) -> None:
    page.goto(url + "/kb/")
    page.locator("input[type=text]").first.fill(user)
    page.locator("input[type=password]").first.fill(password)
    page.get_by_role("button", name=re.compile("log ?in", re.I)).click()


def _shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def test_wrong_credentials_are_refused(page, app_url):
    _log_in(page, app_url, USER, "wrong password")
    page.get_by_text(re.compile("incorrect credentials", re.I)).wait_for()
    assert page.locator("#kb-ingest").count() == 0


def test_upload_then_ask_by_voice_answered_from_it(page, app_url, tmp_path):
    kelpie, harbour = tmp_path / "kelpie.txt", tmp_path / "harbour.md"
    kelpie.write_text(KELPIE)
    harbour.write_text(HARBOUR)
    _log_in(page, app_url, USER, PASSWORD)
    page.locator("#kb-ingest").wait_for()
    page.locator("#kb-files input[type=file]").set_input_files([str(kelpie), str(harbour)])
    page.locator("#kb-ingest").click()
    page.locator("#kb-report").get_by_text(re.compile(r"Ingested 2 file")).wait_for()
    sources = page.locator("#kb-sources").inner_text()
    assert "kelpie.txt" in sources and "harbour.md" in sources

    # A stored passage with markup shows as text and runs nothing.
    page.locator("#kb-query textarea").fill("when does the ferry leave the harbour")
    page.locator("#kb-search").click()
    page.locator("#kb-results").get_by_text("window.__seal_xss = 1", exact=False).wait_for()
    assert "<script>" in page.locator("#kb-results").inner_text()
    assert page.evaluate("window.__seal_xss") is None
    _shot(page, "knowledge-page.png")

    # The chat page: record from the fake microphone (it plays the question WAV), stop, ask.
    page.goto(app_url + "/")
    audio = page.locator("#question-audio")
    audio.locator("button.record-button").click()
    time.sleep(4.0)
    audio.get_by_role("button", name="Stop", exact=True).click()
    # the page says when the recording has reached the server (it uploads a moment after Stop)
    page.locator("#notice").get_by_text(re.compile(r"Question audio received \([0-9.]+ s\)")).wait_for()
    page.locator("#ask").click()
    try:
        page.locator("#latency-chart").wait_for(timeout=180_000)
    finally:
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    first_source = page.locator("#sources li.source").first.inner_text()
    assert "kelpie.txt" in first_source and "violet" in first_source
    latency = page.locator("#latency").inner_text()
    assert "speech_embedding" in latency and "search" in latency and "first_token" in latency
    answer = page.locator("#chat").inner_text()
    assert "(spoken)" in answer and ("cites [" in answer or "no passage cited" in answer)
    assert page.locator("#turns").get_by_text("seal").count() >= 1
    _shot(page, "chat-page.png")
