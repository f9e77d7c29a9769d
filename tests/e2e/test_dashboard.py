"""The dashboard at /ui in a real headless Chromium (the distribution's, driven by Playwright) against the
real API, worker and Redis: train from the form and watch it live, play with the model, upload a data set,
sign in where keys are configured; with no console error anywhere.

Screenshots go to $GANFORGE_SCREENSHOT_DIR when set (docs/dashboard.md's come from there), else a temporary folder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from models.data import load_builtin
from service.api.auth import hash_key
from service.cli.processes import env_for, start_api, stop
from tests.helpers import train_model

pytestmark = pytest.mark.e2e
WAIT_MS = 120_000


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "the browser tests need the distribution's Chromium (`make test` installs it as root)"
    return found


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("GANFORGE_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser, api_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=api_url)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.set_default_timeout(30_000)
    # The dashboard's Content-Security-Policy forbids eval, so wait_for_function takes functions ("() => ..."):
    # Playwright compiles a bare expression with eval each time it polls, and the page refuses it.
    yield page
    context.close()
    assert not problems, problems


def drawn_pixels(page: Page, selector: str) -> int:
    """How many pixels of a canvas are not blank."""
    return page.evaluate("""(selector) => {
        const canvas = document.querySelector(selector);
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let drawn = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn++;
        return drawn;
    }""", selector)


def test_a_job_submitted_from_the_form_is_watched_live_then_played_with(page, worker_process, shots):
    page.goto("/")  # the root leads to the dashboard
    page.wait_for_selector("table")
    page.click("nav >> text=Train")
    page.select_option("#dataset", "digits")
    page.select_option("#arch", "cgan")
    page.fill("#epochs", "3")
    page.fill("#latent_dim", "16")
    page.screenshot(path=shots / "dashboard-train.png")
    page.click("button[type=submit]")
    page.wait_for_url("**/#/jobs/job_*")
    page.wait_for_selector("#job-progress")
    # Live over SSE: the curve grows and the per-epoch grids arrive while the job runs.
    page.wait_for_function("() => document.getElementById('job-progress').textContent.includes('step')",
                           timeout=WAIT_MS)
    page.wait_for_function("() => document.getElementById('job-status').textContent.startsWith('succeeded')",
                           timeout=WAIT_MS)
    assert drawn_pixels(page, "canvas.curves") > 500
    assert page.get_attribute("#epoch-slider", "max") == "3"
    assert page.is_disabled("text=Cancel")  # nothing left to cancel
    assert page.evaluate("document.getElementById('sample-grid').naturalWidth") > 0
    page.fill("#epoch-slider", "1")
    page.wait_for_function("() => document.getElementById('sample-grid').src.endsWith('/samples/1')")
    page.screenshot(path=shots / "dashboard-job.png", full_page=True)

    page.click("text=open the model")
    page.wait_for_selector("#playground-image")
    image = page.locator("#playground-image")
    page.wait_for_function("() => document.getElementById('playground-image').naturalWidth > 0")
    before = image.screenshot()
    shown = page.get_attribute("#playground-image", "src")
    page.fill("#seed", "8")
    page.dispatch_event("#seed", "change")
    page.wait_for_function("(shown) => document.getElementById('playground-image').src !== shown", arg=shown)
    page.wait_for_function("() => document.getElementById('playground-image').complete")
    assert '"seed":8' in page.text_content("#reproduce")
    assert image.screenshot() != before  # another seed, other images
    page.select_option("#label", "3")
    page.wait_for_function("() => document.getElementById('reproduce').textContent.includes('labels=\"3\"')")
    with page.expect_download() as download:
        page.click("text=NPZ")
    model_id = page.url.split("#/models/")[1]
    same = page.request.post(f"/v1/models/{model_id}/generate", data={"n": 16, "seed": 8, "labels": "3",
                                                                     "format": "npz"})
    with np.load(download.value.path()) as shown, np.load(io.BytesIO(same.body())) as asked:
        assert shown["images"].shape[0] == 16 and (shown["labels"] == 3).all()
        assert np.array_equal(shown["latents"], asked["latents"])  # what was on screen: seed 8
    page.click("text=Interpolate >> nth=-1")
    page.wait_for_function("() => document.getElementById('interpolation').naturalWidth > 0")
    assert page.get_attribute("#interpolation", "alt").endswith("class 3")  # the class chosen, never one unsaid
    page.screenshot(path=shots / "dashboard-model.png", full_page=True)


def test_a_translators_page_sends_an_image_to_its_kinds_route(page, client, worker_process, tmp_path):
    # A model that takes images gets the panel its kind's hints ask for (GET /v1/kinds), not the latent playground.
    card = train_model(client, "edges-digits", {"arch": "pix2pix"}, {"max_steps": 2, "batch_size": 16},
                       {"g_width": 4, "d_width": 4})
    digit = tmp_path / "digit.png"
    Image.fromarray(load_builtin("mnist").images[0][0].numpy()).save(digit)
    page.goto(f"/ui/#/models/{card['id']}")
    page.wait_for_selector("#image-file")
    assert page.locator("#truncation").count() == 0, "no latent controls for a translator"
    assert "translator: it translates images" in page.text_content("main")
    page.set_input_files("#image-file", str(digit))
    page.wait_for_function("() => document.querySelector('#results img.output')?.naturalWidth > 0", timeout=WAIT_MS)
    assert page.evaluate("document.querySelector('#results img.output').naturalWidth") == 28
    assert f"/v1/models/{card['id']}/translate" in page.text_content("#reproduce")


def test_a_data_set_is_uploaded_with_progress_and_listed(page, tmp_path, shots):
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, images=rng.integers(0, 255, (40, 8, 8), dtype=np.uint8), labels=np.arange(40) % 2)
    upload = tmp_path / "tiny.npz"
    upload.write_bytes(buffer.getvalue())
    page.goto("/ui/#/datasets")
    page.set_input_files("#upload-file", str(upload))
    page.fill("#upload-name", "browser-upload")
    page.click("text=Upload >> nth=-1")
    page.wait_for_selector("text=uploaded ds_")
    assert page.locator("tr", has_text="browser-upload").count() == 1
    page.screenshot(path=shots / "dashboard-datasets.png", full_page=True)


def test_with_keys_configured_the_dashboard_signs_in_with_a_session_cookie(browser, redis_url, data_dir,
                                                                         tmp_path_factory):
    key = "gfk_browser_secret"
    keys = json.dumps([{"name": "browser", "sha256": hash_key(key), "scope": "train"}])
    env = env_for(redis_url.rsplit("/", 1)[0] + "/4", data_dir, GANFORGE_API_KEYS=keys)
    process, url = start_api(env, tmp_path_factory.mktemp("ui-keys") / "api.log")
    try:
        context = browser.new_context(base_url=url)
        page = context.new_page()
        page.goto("/ui/")
        page.wait_for_selector("#api-key")  # the API said 401: the page asks for a key
        page.fill("#api-key", "gfk_wrong")
        page.click("button[type=submit]")
        page.wait_for_selector("text=unknown API key")
        page.fill("#api-key", key)
        page.click("button[type=submit]")
        page.wait_for_selector("table")  # the jobs list, fetched with the cookie alone
        cookie = next(c for c in context.cookies() if c["name"] == "ganforge_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and key not in cookie["value"]
        assert page.evaluate("document.cookie") == ""  # scripts cannot read it
        context.close()
    finally:
        stop(process)


def test_on_a_phone_nothing_is_wider_than_the_screen_and_the_keyboard_reaches_every_page(browser, api_url,
                                                                                      trained_model, cgan):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=api_url, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for hash_ in ("#/jobs", f"#/jobs/{cgan['job_id']}", "#/new", "#/models", f"#/models/{cgan['id']}",
                  f"#/compare/{cgan['id']},{trained_model['id']}", "#/datasets"):
        page.goto(f"/ui/{hash_}")
        page.reload()  # a new hash alone would keep the old page on screen until the new one renders
        page.wait_for_selector("main h1")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, hash_
    page.goto("/ui/#/jobs")
    page.wait_for_selector("table")
    page.focus(".brand")
    for _ in range(5):  # Tab along the navigation to the "Models" link, then Enter
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Models":
            break
    page.keyboard.press("Enter")
    page.wait_for_selector("text=FID (classifier)")
    context.close()
    assert not errors, errors


def test_an_infogan_playground_sets_the_codes(page, infogan):
    page.goto(f"/ui/#/models/{infogan['id']}")
    page.wait_for_function("() => document.getElementById('playground-image')?.naturalWidth > 0")
    assert page.locator("#category option").count() == 1 + 4 and page.locator("input[type=range]").count() == 2
    before = page.locator("#playground-image").screenshot()
    page.select_option("#category", "2")
    page.fill("#continuous-1", "1.5")
    page.dispatch_event("#continuous-1", "change")
    page.wait_for_function("(text) => document.getElementById('reproduce').textContent.includes(text)",
                           arg='"continuous":[0,1.5]')
    assert '"categorical":2' in page.text_content("#reproduce")
    page.wait_for_function("() => document.getElementById('playground-image').complete")
    assert page.locator("#playground-image").screenshot() != before


def test_a_queued_jobs_page_says_what_it_waits_for_as_it_changes(page, client, registry):
    # A job for a GPU pool with no GPU worker stays queued; its notes come as the reference task's would.
    job = client.post("/v1/jobs", json={"dataset": "ring8", "model": {"arch": "mlp"}, "train": {"epochs": 1},
                                        "resources": {"device": "gpu"}}).json()
    try:
        registry.note_waiting(job["id"], {"for": "reference classifier", "dataset": "ds_x", "epoch": 2, "epochs": 8,
                                          "eta_s": 12.4})
        page.goto(f"/ui/#/jobs/{job['id']}")
        progress = page.locator("#job-progress")
        assert progress.text_content(timeout=10_000) == \
            "waiting for the reference classifier of ds_x: epoch 2/8, about 12 s left"
        registry.note_waiting(job["id"], {"for": "a worker", "dataset": "ds_x"})  # arrives over the open stream
        page.wait_for_function("() => document.querySelector('#job-progress').textContent === 'waiting for a worker'")
    finally:
        client.post(f"/v1/jobs/{job['id']}/cancel")
