"""The README's screenshots of the web app, taken from the pretrained zoo in headless Chromium.

    python scripts/app_screenshots.py            # writes docs/images/app-*.png

It serves the zoo alone (`genmodels serve` over an empty folder of runs), then, as a user would:
compares the zoo's binary density models on a test digit (Lecture page), sets two 1-D densities beside the
optimal discriminator, and draws a seven on the pad and scores it with the pad's defaults
(zoo:nade-classes). Each screenshot is checked for content (not one flat colour) before it is
written. Needs the `app` and `dev` extras (gradio, playwright) and Debian's chromium, as the browser
tests do.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import expect, sync_playwright

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"
WAIT_MS = 120_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(port: int, runs: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, "-m", "genmodels.cli", "serve", str(runs), "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit("genmodels serve did not start") from None
            time.sleep(0.5)


def keep(png: bytes, path: Path) -> None:
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    _, counts = np.unique(grey, return_counts=True)
    if grey.std() < 5 or counts.max() > 0.95 * grey.size:
        raise SystemExit(f"{path.name}: the screenshot looks blank")
    path.write_bytes(png)
    print(f"wrote {path} ({grey.shape[1]} x {grey.shape[0]})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("GENMODELS_CHROMIUM") or shutil.which("chromium")
    port = free_port()
    with tempfile.TemporaryDirectory() as runs:
        server = serve(port, Path(runs))
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/")
                expect(page.locator("#about")).to_contain_text("parameters", timeout=WAIT_MS)

                page.get_by_role("tab", name="Lecture", exact=True).click()
                page.get_by_role("tab", name="Chain rule", exact=True).click()
                page.locator("#chain-button").click()
                expect(page.locator("#chain-message")).to_contain_text("zoo:nade", timeout=WAIT_MS)
                keep(page.locator("#lecture-page").screenshot(), args.out / "app-chain-rule.png")

                page.get_by_role("tab", name="Optimal discriminator", exact=True).click()
                page.locator("#discriminator-button").click()
                expect(page.locator("#discriminator-message")).to_contain_text("V(D*, G)", timeout=WAIT_MS)
                expect(page.locator("#discriminator-image img")).to_be_visible(timeout=WAIT_MS)
                keep(page.locator("#lecture-page").screenshot(), args.out / "app-optimal-discriminator.png")

                page.get_by_role("tab", name="Draw a digit", exact=True).click()
                # the pad's defaults: the density with the lowest recorded NLL (zoo:nade-classes) and
                # the class-conditional model for Bayes' rule
                expect(page.locator("#draw-model input")).to_have_value("zoo:nade-classes")
                page.locator("#draw-pad button[aria-label=Brush]").click()
                box = page.locator("#draw-pad canvas").first.bounding_box()
                left, top = box["x"] + box["width"] / 2 - 140, box["y"] + box["height"] / 2 - 140
                page.mouse.move(left + 90, top + 60)  # a seven: across, then down
                page.mouse.down()
                page.mouse.move(left + 200, top + 60, steps=15)
                page.mouse.move(left + 120, top + 230, steps=25)
                page.mouse.up()
                page.locator("#draw-button").click()
                expect(page.locator("#draw-message")).to_contain_text("nats", timeout=WAIT_MS)
                expect(page.locator("#draw-image img")).to_be_visible(timeout=WAIT_MS)
                keep(page.locator("#draw-page").screenshot(), args.out / "app-drawing-pad.png")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
