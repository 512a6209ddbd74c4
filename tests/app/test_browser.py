"""The web app end to end: `genmodels serve` in its own process, driven in headless Chromium (Debian's
chromium, through Playwright) as a user would: pick a run, set the controls, press the buttons,
upload files. `make setup` installs both; without chromium these tests fail and say so."""

import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import BROKEN, RUNS

playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
expect = playwright.expect

MAX_UPLOAD_MB = 0.5
WAIT_MS = 60_000  # a response on a busy 2-core machine


def chromium() -> str:
    path = (
        os.environ.get("GENMODELS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if path is None:
        pytest.fail("no chromium: `make setup` installs Debian's (apt-get install chromium)")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(options: list[str], log: Path):
    """`genmodels serve OPTIONS` on a free port in its own process, until the page answers; yields
    {"url", "port", "log"} and stops the server after."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, "-m", "genmodels.cli", "serve", *options, "--port", str(port)]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
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
        yield {"url": url, "port": port, "log": log}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    # The runs alone: these tests know their order (the zoo's pages are test_browser_zoo.py's).
    with serving([str(runs), "--no-zoo", "--max-upload-mb", str(MAX_UPLOAD_MB)], log) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page()
    elsewhere = []
    page.on(
        "request",
        lambda request: None if request.url.startswith(server["url"]) else elsewhere.append(request.url),
    )
    page.goto(server["url"])
    # The first run that loads, described (the runs listed before it cannot be loaded).
    expect(page.locator("#about")).to_contain_text("nade", timeout=WAIT_MS)
    yield page
    page.close()
    assert not elsewhere, f"the page reached beyond the app: {elsewhere[:5]}"


def choose_run(page, name):
    page.locator("#run input").click()
    page.get_by_role("option", name=name, exact=True).click()
    expect(page.locator("#about")).to_contain_text(name.split("/")[-1], timeout=WAIT_MS)


def expect_tabs(page, shown):
    """Only the tabs `shown` have a header on the page; the others are hidden."""
    for tab in ("Sample", "Interpolate", "Translate", "Score"):
        header = page.get_by_role("tab", name=tab, exact=True)
        if tab in shown:
            expect(header).to_be_visible(timeout=WAIT_MS)
        else:
            expect(header).to_be_hidden(timeout=WAIT_MS)


def upload(page, element, path):
    """Put `path` in a file box, clearing what an earlier upload left there."""
    clear = page.locator(f"#{element} button[aria-label=Clear]")
    if clear.count():
        clear.first.click()
    page.locator(f"#{element} input[type=file]").set_input_files(path)
    uploaded(page, element, path.name)


def uploaded(page, element, name):
    """Wait until the file box lists `name`: its row's cell, named by the file (the row's text shows
    "stem .ext"; only the "Uploading" note while it lasts has the name as one word)."""
    expect(page.locator(f"#{element}").get_by_role("cell", name=name, exact=True).first).to_be_visible(
        timeout=WAIT_MS
    )


def shown_image(page, element) -> bytes:
    """The PNG the page shows in an image box, fetched as the browser does."""
    source = page.locator(f"#{element} img").get_attribute("src")
    return page.request.get(source).body()


def press(page, button, message, text):
    page.locator(f"#{button}").click()
    expect(page.locator(f"#{message}")).to_contain_text(text, timeout=WAIT_MS)


# -- the tests ------------------------------------------------------------------------------------------
def test_binds_to_localhost_only(server):
    """Listening sockets of the server's port, from /proc/net/tcp{,6}: the loopback address only."""
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, port = local.split(":")
            if int(port, 16) == server["port"] and state == "0A":  # 0A: LISTEN
                listening.append(address)
    assert listening == ["0100007F"], listening  # 127.0.0.1, little-endian hex


def test_lists_the_runs_and_why_some_cannot_be_loaded(page):
    page.locator("#run input").click()
    options = [option.replace("✓", "").strip() for option in page.get_by_role("option").all_inner_texts()]
    assert [option.split(":")[0] for option in options] == RUNS  # ✓ marks the chosen one
    broken, halfway = options[: len(BROKEN)]
    assert broken.startswith("broken: cannot be loaded: broken/model.safetensors: not a readable")
    assert halfway.startswith("halfway: cannot be loaded: no weights yet")


def test_sampling_with_a_seed_and_a_class(page):
    expect_tabs(page, ["Sample", "Score"])  # nade samples and has a density, but no latent space
    expect(page.locator("#sample-label")).to_be_visible()  # nade is class-conditional
    page.locator("#sample-label input").click()
    page.get_by_role("option", name="3", exact=True).click()
    page.locator("#sample-seed input").fill("5")
    press(page, "sample-button", "sample-message", "samples of nade, seed 5, condition 3")
    first = shown_image(page, "sample-image")
    assert first.startswith(b"\x89PNG")
    page.locator("#sample-seed input").fill("6")
    press(page, "sample-button", "sample-message", "seed 6")
    other = shown_image(page, "sample-image")
    page.locator("#sample-seed input").fill("5")
    press(page, "sample-button", "sample-message", "seed 5")
    assert shown_image(page, "sample-image") == first != other


def test_controls_follow_the_model(page, images):
    choose_run(page, "untrained/text2image")
    expect_tabs(page, ["Sample", "Interpolate"])
    expect(page.locator("#sample-caption")).to_be_visible()
    expect(page.locator("#sample-label")).to_be_hidden()
    page.locator("#sample-caption textarea").fill("a thin two")
    press(page, "sample-button", "sample-message", "condition 'a thin two'")
    choose_run(page, "untrained/infogan")
    expect(page.locator("#sample-caption")).to_be_hidden()
    expect(page.locator("#sample-category")).to_be_visible()
    page.locator("#sample-category input").click()
    page.get_by_role("option", name="7", exact=True).click()
    page.locator("#sample-continuous textarea").fill("0.5, -1")
    press(page, "sample-button", "sample-message", "category 7, continuous [0.5, -1.0]")
    choose_run(page, "untrained/puzzlegan")
    expect(page.locator("#sample-patches")).to_be_visible()
    page.locator("#sample-patches input[type=file]").set_input_files([images["patch"]] * 3)
    uploaded(page, "sample-patches", "patch.png")
    press(page, "sample-button", "sample-message", "samples of puzzlegan")


def test_latent_and_caption_interpolation(page):
    choose_run(page, "vae")
    page.get_by_role("tab", name="Interpolate").click()
    press(page, "interpolate-button", "interpolate-message", "8 steps from seed 0's latent to seed 1's")
    assert shown_image(page, "interpolate-image").startswith(b"\x89PNG")
    choose_run(page, "untrained/text2image")
    expect(page.locator("#interpolate-caption-a")).to_be_visible()
    press(page, "interpolate-button", "interpolate-message", "from 'a thin one' to 'a thick seven'")


def test_translating_an_upload(page, images):
    # A broken run shows its reason and no tabs; the translator chosen after it opens its Translate
    # tab (its only one) with the hint.
    page.locator("#run input").click()
    page.get_by_role("option", name=re.compile(r"^broken: cannot be loaded")).click()
    expect(page.locator("#about")).to_contain_text("broken cannot be loaded", timeout=WAIT_MS)
    expect_tabs(page, [])
    choose_run(page, "untrained/cyclegan")
    expect_tabs(page, ["Translate"])
    expect(page.locator("#translate-hint")).to_contain_text("a domain (thin, thick)")
    upload(page, "translate-upload", images["wide"])  # any size: resized to the model's
    page.locator("#translate-to textarea").fill("thick")
    press(page, "translate-button", "translate-message", "input and its translation to thick")
    assert shown_image(page, "translate-image").startswith(b"\x89PNG")
    choose_run(page, "untrained/stargan")
    expect(page.locator("#translate-hint")).to_contain_text("attributes: thick, invert")
    page.locator("#translate-to textarea").fill("wings=1")
    press(page, "translate-button", "translate-message", "unknown attribute")
    page.locator("#translate-to textarea").fill("thick=1,invert=0")
    press(page, "translate-button", "translate-message", "translation to thick=1,invert=0")


def test_scoring_an_upload_with_the_anomaly_verdict(page, images):
    page.get_by_role("tab", name="Score").click()
    upload(page, "score-upload", images["digit"])
    press(page, "score-button", "score-message", "bits/dim (exact)")
    message = page.locator("#score-message").inner_text()
    assert "nats" in message and "threshold" in message and "held-out digits/test" in message
    assert ("anomalous" in message) or ("normal" in message)


def test_bad_uploads_give_a_message_and_the_app_carries_on(page, images, tmp_path):
    page.get_by_role("tab", name="Score").click()
    for path, problem in [
        (images["text"], "not a readable image"),
        (images["truncated"], "not a readable image"),
        (images["wide"], "the image is 20 x 30 pixels; this model takes 8 x 8"),
    ]:
        upload(page, "score-upload", path)
        # Named by the file's own name, never by the server's temporary path.
        press(page, "score-button", "score-message", f"Error: {path.name}: {problem}")
        assert f"/{path.name}" not in page.locator("#score-message").inner_text()
    huge = tmp_path / "huge.png"
    huge.write_bytes(images["digit"].read_bytes() + bytes(int(MAX_UPLOAD_MB * 2**20) + 1))
    page.locator("#score-upload button[aria-label=Clear]").click()
    page.locator("#score-upload input[type=file]").set_input_files(huge)
    expect(page.get_by_text("exceed the maximum allowed size")).to_be_visible(timeout=WAIT_MS)
    press(page, "score-button", "score-message", "upload one image to score")  # refused: never uploaded
    upload(page, "score-upload", images["digit"])
    press(page, "score-button", "score-message", "bits/dim")


# -- the lecture and the drawing pad ------------------------------------------------------------------
def open_page(page, name, tab=None):
    page.get_by_role("tab", name=name, exact=True).click()
    if tab is not None:
        page.get_by_role("tab", name=tab, exact=True).click()


def looks_drawn(page, element, name):
    """A screenshot of the element's picture as the browser renders it, checked for content (not one flat
    colour, as a blank or failed render is) and kept in $GENMODELS_SCREENSHOTS when that is set."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:  # a second answer on its way (a slider let go of) shows a spinner until it lands
        png = page.locator(f"#{element} img").first.screenshot()
        grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
        _, counts = np.unique(grey, return_counts=True)
        if (grey.std() > 5 and counts.max() < 0.95 * grey.size) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert grey.std() > 5 and counts.max() < 0.95 * grey.size, f"{element} looks blank"
    if os.environ.get("GENMODELS_SCREENSHOTS"):
        folder = Path(os.environ["GENMODELS_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.png").write_bytes(png)


def test_every_lecture_demonstration_computes_and_shows(page):
    open_page(page, "Lecture", "Chain rule")
    press(page, "chain-button", "chain-message", "What trained models give test image 0 of digits/test")
    expect(page.locator("#chain-message")).to_contain_text("2^784 − 1")
    looks_drawn(page, "chain-image", "chain-rule")
    open_page(page, "Lecture", "Generation")
    press(page, "generation-button", "generation-message", "nade, seed 0: the canvas after each")
    looks_drawn(page, "generation-image", "generation")
    press(page, "completion-button", "completion-message", "completions drawn from p(x_bottom | x_top, y =")
    open_page(page, "Lecture", "ELBO")
    press(page, "elbo-button", "elbo-message", "ELBO =")
    open_page(page, "Lecture", "Optimal discriminator")
    means = page.locator("#discriminator-means textarea")
    typed = "0.5·N(-3, 0.5²) + 0.5·N(1, 0.5²)"
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        # On a loaded machine the tab's first render can reset the box after the typing, or the click
        # can reach the server before the typed value (both seen in CI): type again until the box
        # holds the value and the answer is the typed densities'.
        means.fill("-3, 1")
        means.press("Tab")  # leave the box, as a user does, so the page hands the new value on
        expect(means).to_have_value("-3, 1")
        press(page, "discriminator-button", "discriminator-message", "2·JSD − log 4 =")
        if typed in page.locator("#discriminator-message").inner_text() or time.monotonic() > deadline:
            break
        time.sleep(1)
    expect(page.locator("#discriminator-message")).to_contain_text(typed, timeout=WAIT_MS)
    looks_drawn(page, "discriminator-image", "optimal-discriminator")
    # moving p_G's mean recomputes D* without the button, as the user lets go of the slider
    track = page.locator("#discriminator-g-mean input[type=range]").bounding_box()
    page.mouse.click(track["x"] + 0.9 * track["width"], track["y"] + track["height"] / 2)
    expect(page.locator("#discriminator-message")).to_contain_text(
        re.compile(r"p_G = 1·N\((4|5)[.,]"),
        timeout=WAIT_MS,  # 0.9 of the way from −6 to 6
    )
    open_page(page, "Lecture", "Codes and prior")
    press(page, "codes-button", "codes-message", "vae (vae, 4-d codes)")
    looks_drawn(page, "codes-image", "codes")
    open_page(page, "Lecture", "InfoGAN codes")
    press(page, "info-button", "info-message", "category 0")
    looks_drawn(page, "info-image", "infogan-codes")
    open_page(page, "Lecture", "Text to image")
    press(page, "text-button", "text-message", "8 samples for “a thick seven”")
    for tab, key, text in [
        ("Patches to image", "patches", "Error: untrained/puzzlegan does not say what it was trained on"),
        ("Translation", "translation", "Error: untrained/cyclegan does not say what it was trained on"),
    ]:
        open_page(page, "Lecture", tab)
        press(page, f"{key}-button", f"{key}-message", text)


def test_a_digit_drawn_on_the_pad_is_scored_classified_and_completed(page):
    open_page(page, "Draw a digit")
    press(page, "draw-button", "draw-message", "Error: draw a digit first")
    page.locator("#draw-pad button[aria-label=Brush]").click()  # as a user does: the pad asks for it
    canvas = page.locator("#draw-pad canvas").first
    expect(canvas).to_be_visible(timeout=WAIT_MS)
    box = canvas.bounding_box()  # the 280 x 280 drawing area sits in the middle of the editor
    left, top = box["x"] + box["width"] / 2 - 140, box["y"] + box["height"] / 2 - 140
    page.mouse.move(left + 140, top + 56)  # a seven: across, then down
    page.mouse.down()
    page.mouse.move(left + 196, top + 56, steps=10)
    page.mouse.move(left + 140, top + 224, steps=20)
    page.mouse.up()
    press(page, "draw-button", "draw-message", "nats")
    message = page.locator("#draw-message").inner_text()
    assert "bits/dim" in message and "Bayes' rule" in message and "anomaly" in message, message
    assert "completion" in message
    looks_drawn(page, "draw-image", "drawing-pad")
