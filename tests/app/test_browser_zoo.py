"""The web app on the pretrained zoo, in headless Chromium: `genmodels serve` with no runs opens the
zoo; every entry's page describes it (the entries whose headline numbers have no unit included),
and the demonstrations that the tiny runs of test_browser.py cannot show succeed on the zoo's
trained models: the ELBO split, a completion, text to image, patches to image, translation."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from genmodels import zoo
from tests.app.test_browser import WAIT_MS, chromium, free_port, looks_drawn, open_page, press

playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
expect = playwright.expect


@pytest.fixture(scope="module")
def zoo_page(tmp_path_factory):
    runs = tmp_path_factory.mktemp("no-runs")
    port = free_port()
    log = tmp_path_factory.mktemp("serve-zoo") / "serve.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "genmodels.cli", "serve", str(runs), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"genmodels serve did not start:\n{log.read_text()}")
            time.sleep(0.5)
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(url)
            expect(page.locator("#about")).to_contain_text("It can ", timeout=WAIT_MS)  # zoo:aae
            yield page
            browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_every_zoo_entry_s_page_describes_it(zoo_page):
    page = zoo_page
    for name in zoo.names():
        page.locator("#run input").click()
        page.get_by_role("option", name=f"zoo:{name}", exact=True).click()
        about, provenance = page.locator("#about"), zoo.provenance(name)
        # each entry's own parameter count: the page shows this entry, not the one before it
        expect(about).to_contain_text(f"{provenance['parameters']:,} parameters", timeout=WAIT_MS)
        expect(about).to_contain_text(provenance["headline"][0]["measure"])
        expect(about).to_contain_text("It can ")
        assert "Error" not in about.inner_text(), name


def test_the_demonstrations_on_the_zoo_s_trained_models(zoo_page):
    page = zoo_page
    open_page(page, "Lecture", "ELBO")
    press(page, "elbo-button", "elbo-message", "ELBO =")
    looks_drawn(page, "elbo-image", "zoo-elbo")
    open_page(page, "Lecture", "Generation")
    press(page, "completion-button", "completion-message", "completions drawn from p(x_bottom | x_top")
    looks_drawn(page, "completion-image", "zoo-completion")
    open_page(page, "Lecture", "Text to image")
    press(page, "text-button", "text-message", "The shipped digit classifier reads them as 7")
    looks_drawn(page, "text-image", "zoo-text-to-image")
    open_page(page, "Lecture", "Patches to image")
    press(page, "patches-button", "patches-message", "whole digits")
    looks_drawn(page, "patches-image", "zoo-patches")
    open_page(page, "Lecture", "Translation")
    press(page, "translation-button", "translation-message", "then to")
    looks_drawn(page, "translation-image", "zoo-translation")
