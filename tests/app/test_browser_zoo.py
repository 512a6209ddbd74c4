"""The web app on the pretrained zoo, in headless Chromium: `genmodels serve` with no runs opens the
zoo; every entry's page describes it (the entries whose headline numbers have no unit included),
and the demonstrations that the tiny runs of test_browser.py cannot show succeed on the zoo's
trained models: the ELBO split, a completion, text to image, patches to image, translation."""

import pytest

from genmodels import zoo
from genmodels.registry import get_model_class
from tests.app.test_browser import WAIT_MS, chromium, looks_drawn, open_page, press, serving

playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
expect = playwright.expect


@pytest.fixture(scope="module")
def zoo_page(tmp_path_factory):
    runs = tmp_path_factory.mktemp("no-runs")
    log = tmp_path_factory.mktemp("serve-zoo") / "serve.log"
    with serving([str(runs)], log) as server, playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(server["url"])
        expect(page.locator("#about")).to_contain_text("It can ", timeout=WAIT_MS)  # zoo:aae
        yield page
        browser.close()


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
        if get_model_class(provenance["model"]).equation:  # typeset by KaTeX, not left as TeX source
            expect(about.locator(".katex").first).to_be_visible()
            assert "\\frac" not in about.inner_text() and "\\mathbb" not in about.inner_text(), name


@pytest.mark.parametrize(
    ("tab", "key", "answer"),
    [
        ("ELBO", "elbo", "ELBO ="),
        ("Generation", "completion", "completions drawn from p(x_bottom | x_top"),
        ("Text to image", "text", "The shipped digit classifier reads them as 7"),
        ("Patches to image", "patches", "whole digits"),
        ("Translation", "translation", "then to"),
    ],
)
def test_the_demonstrations_on_the_zoo_s_trained_models(zoo_page, tab, key, answer):
    open_page(zoo_page, "Lecture", tab)
    press(zoo_page, f"{key}-button", f"{key}-message", answer)
    looks_drawn(zoo_page, f"{key}-image", f"zoo-{key}")
