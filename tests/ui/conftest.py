"""A real `seal-rag serve` on 127.0.0.1 (real models, embedded Chroma in a fresh home) and a real
Chromium driven by Playwright, with a fake microphone that plays a WAV file."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import _free_port, speak, wait_for_server

USER, PASSWORD = "operator", "correct horse battery staple"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
CONVERSATION_MAX_TURN_S = 6.0


def chromium_path() -> str:
    for name in CHROMIUM_CANDIDATES:
        if path := shutil.which(name):
            return path
    pytest.fail("Debian's chromium is missing: run `make setup-test` (installs it with apt when root)")


@pytest.fixture(scope="session")
def app_url(settings, tmp_path_factory):
    home = tmp_path_factory.mktemp("ui-home")
    (home / "models").symlink_to(settings.models_dir, target_is_directory=True)
    port = _free_port()
    log_path = home / "serve.log"
    env = {**os.environ, "SEAL_RAG_HOME": str(home), "SEAL_RAG_UI_USER": USER, "SEAL_RAG_UI_PASSWORD": PASSWORD,
           "SEAL_RAG_MAX_NEW_TOKENS": "32", "SEAL_RAG_UI_CONCURRENCY": "2",
           # conversation mode: a maximum turn the browser test's monologue outlasts
           "SEAL_RAG_CONV_MAX_TURN_S": str(CONVERSATION_MAX_TURN_S)}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "seal-rag"), "serve", "--port", str(port)],
        stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_server(lambda: urllib.request.urlopen(url + "/", timeout=2).status == 200, process, log_path,
                    "seal-rag serve", 300, 1.0)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def question_about_upload(tmp_path_factory) -> Path:
    """The spoken question the fake microphone plays (espeak-ng, padded so a loop does not cut it)."""
    return speak("what colour is the zorblax lighthouse on kelpie island",
                 tmp_path_factory.mktemp("mic") / "question.wav", rate=140)


def launch_with_microphone(playwright, wav: Path):
    """Chromium whose (fake) microphone plays `wav`, looping at its end."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=[
        "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required",
    ])


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver, question_about_upload):
    browser = launch_with_microphone(playwright_driver, question_about_upload)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(permissions=["microphone"], viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()
