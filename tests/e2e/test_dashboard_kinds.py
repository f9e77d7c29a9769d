"""Each kind of model gets the page its kind and card ask for, in a real Chromium against the real stack (the browser
and page fixtures of test_dashboard.py, which fail a test on any console error): a sampler's labels and the
comparison page, a translator's directions and pairs, an augmenter's variations, a style-based model's psi, style
mixes, w paths and projections, and every score explained.
"""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from PIL import Image

from models.data import load_builtin
from tests.e2e import test_dashboard
from tests.helpers import train_model

pytestmark = pytest.mark.e2e
TINY = {"latent_dim": 8, "g_width": 4, "d_width": 4}
WAIT_MS = test_dashboard.WAIT_MS
# test_dashboard.py's fixtures: the browser, and a page that fails its test on any console error.
browser, page = test_dashboard.browser, test_dashboard.page


@pytest.fixture(scope="module")
def cyclegan(client, worker_process) -> dict:
    return train_model(client, "digits-stripes", {"arch": "cyclegan", "blocks": 1}, {"max_steps": 2, "batch_size": 16},
                       {"g_width": 4, "d_width": 4})


@pytest.fixture(scope="module")
def dagan(client, worker_process) -> dict:
    """At 28 px, the smallest size a DAGAN takes."""
    return train_model(client, "digits", {"arch": "dagan"}, {"max_steps": 2, "batch_size": 16, "d_steps": 1}, TINY)


@pytest.fixture(scope="module")
def stylegan(client, worker_process) -> dict:
    """Conditional, at 16 px: 6 ws, coarse 0-3 and fine 4-5, no middle styles."""
    return train_model(client, "digits", {"arch": "stylegan2", "conditional": True, "image_size": 16},
                       {"max_steps": 2}, {**TINY, "latent_dim": 16, "mapping_layers": 2})


@pytest.fixture
def digit(tmp_path) -> str:
    path = tmp_path / "digit.png"
    Image.fromarray(load_builtin("mnist").images[0][0].numpy()).save(path)
    return str(path)


def loaded(page, selector: str) -> None:
    """Waits until every image the selector matches has arrived, or the page shows an error (then fails with it)."""
    page.wait_for_function("(s) => { const images = [...document.querySelectorAll(s)]; return images.length > 0 "
                           "&& images.every((i) => i.complete && i.naturalWidth > 0) "
                           "|| document.querySelector('p.error'); }", arg=selector, timeout=WAIT_MS)
    assert page.locator("p.error").count() == 0, page.text_content("p.error")


def every_score_explained(page, card: dict) -> None:
    rows = page.locator("#scores tbody tr")
    assert rows.count() == sum(isinstance(v, float | int) for v in card["metrics"]["scores"].values()) > 0
    assert "no description" not in page.text_content("#scores")
    assert page.locator("#scores td", has_text="higher").count() + page.locator("#scores td", has_text="lower").count()
    caveat = card["metrics"].get("reference", {}).get("confidence_caveat")  # a classifier sure of noise (gray sets)
    assert page.locator("#reference-caveat").count() == (1 if caveat else 0)
    if caveat:
        assert "reads uniform noise with a mean confidence of" in page.text_content("#reference-caveat")


def test_a_conditional_samplers_page_explains_its_scores_and_compares_with_another(page, cgan, trained_model):
    page.goto(f"/ui/#/models/{cgan['id']}")
    loaded(page, "#playground-image")
    every_score_explained(page, cgan)
    assert "the reference classifier's accuracy" in page.text_content("#scores tr[data-score=conditional_accuracy]")
    assert page.locator("#image-file, #psi, #style-mix").count() == 0  # neither an image kind's nor a style model's
    page.select_option("#label", "4")
    page.click("#interpolate")  # a conditional model's path needs a class: the one chosen
    loaded(page, "#interpolation")
    assert page.get_attribute("#interpolation", "alt").endswith("class 4")

    page.goto("/ui/#/models")
    page.check(f"input[data-model={cgan['id']}]")
    assert page.is_disabled("#compare")  # one model is no comparison
    page.check(f"input[data-model={trained_model['id']}]")
    page.click("#compare")
    page.wait_for_url("**/#/compare/*")
    loaded(page, "img.same-seed")
    assert page.locator("img.same-seed").count() == 2
    page.wait_for_function("() => document.querySelectorAll('canvas.curves').length === 2")
    assert page.locator("#compare-scores tr[data-score=confidence] td.best").count() == 1
    shown = page.get_attribute("img.same-seed >> nth=0", "src")
    page.fill("#compare-seed", "8")
    page.dispatch_event("#compare-seed", "change")
    page.wait_for_function("(shown) => document.querySelector('img.same-seed').src !== shown", arg=shown)


def test_a_cyclegans_page_translates_samples_of_either_domain_and_uploads(page, cyclegan, digit):
    page.goto(f"/ui/#/models/{cyclegan['id']}")
    page.wait_for_selector("#use-samples")
    assert page.locator("#truncation, #seed").count() == 0, "no latent controls for a translator"
    assert page.locator("#direction option").all_text_contents() == ["a2b", "b2a"]
    every_score_explained(page, cyclegan)
    page.click("#use-samples")  # four of digits-stripes' plain digits (domain A) ...
    loaded(page, "#results img.output")
    assert page.locator("#results tr.pair").count() == 4
    a_inputs = page.get_attribute("#results img.input >> nth=0", "src")
    page.select_option("#direction", "b2a")  # ... then four striped ones (B)
    page.wait_for_function("() => document.querySelector('#results th:last-child').textContent.includes('b2a')")
    loaded(page, "#results img.output")
    assert page.get_attribute("#results img.input >> nth=0", "src") != a_inputs
    assert page.evaluate("document.querySelector('#results img.output').naturalWidth") == 28
    page.set_input_files("#image-file", digit)
    page.wait_for_function("() => document.querySelectorAll('#results tr.pair').length === 1")
    with page.expect_download() as download:
        page.click("#download-zip")
    with zipfile.ZipFile(download.value.path()) as archive:
        assert sorted(archive.namelist()) == ["00000.png", "manifest.json"]
    assert "-F direction=b2a" in page.text_content("#reproduce")


def test_an_augmenters_page_draws_variations_of_a_sample(page, dagan, digit):
    page.goto(f"/ui/#/models/{dagan['id']}")
    page.wait_for_selector("#use-samples")
    every_score_explained(page, dagan)
    assert page.locator("#direction").count() == 0
    page.fill("#count", "3")
    page.click("#use-samples")
    loaded(page, "#results img.output")
    assert page.locator("#results tr.pair").count() == 4 and page.locator("#results img.output").count() == 4 * 3
    page.set_input_files("#image-file", digit)
    page.wait_for_function("() => document.querySelectorAll('#results img.output').length === 3")
    href = page.get_attribute("#results a[download] >> nth=0", "href")  # a variation's PNG, to download
    size = Image.open(io.BytesIO(base64.b64decode(href.removeprefix("data:image/png;base64,")))).size
    assert list(size) == dagan["inputs"]["images"]["variations"][1:]


def test_a_style_models_page_has_psi_style_mixes_w_paths_and_projections(page, stylegan):
    page.goto(f"/ui/#/models/{stylegan['id']}")
    loaded(page, "#playground-image")
    every_score_explained(page, stylegan)
    assert page.locator("#mix-from option").all_text_contents() == ["coarse (w 0, 1, 2, 3)", "fine (w 4, 5)"]
    before = page.get_attribute("#playground-image", "src")
    page.fill("#psi", "0.5")
    page.dispatch_event("#psi", "change")
    page.wait_for_function("(before) => document.getElementById('playground-image').src !== before", arg=before)
    assert '"psi":0.5' in page.text_content("#reproduce")
    page.click("#mix")
    loaded(page, "#style-mix")
    page.select_option("#label", "2")
    page.click("#interpolate")  # in w by default
    loaded(page, "#interpolation")
    assert page.get_attribute("#interpolation", "alt").endswith("in w, class 2")
    page.fill("#project-index", "0")
    page.fill("#project-steps", "10")
    page.click("#project")
    loaded(page, "#projection-image")
    assert "succeeded" in page.text_content("#projection-status")
    assert page.locator("#projection-result a[download]").count() == 1
