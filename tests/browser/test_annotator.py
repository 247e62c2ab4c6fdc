"""The web annotator in headless Chromium (Debian's package, driven by Playwright): click on
the truck, see the mask on the canvas; open a clip, click, propagate, see later frames'
masks, export. Screenshots go to $MASKLET_SCREENSHOTS (default: the test's tmp folder).

Both run on the packaged masklet-nano, the default model of `masklet serve`."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from masklet.rle import rle_decode

CHROMIUM = os.environ.get("MASKLET_CHROMIUM", "/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is part of the test extra")
if not Path(CHROMIUM).exists():
    pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run does), or set MASKLET_CHROMIUM")

COUNT_MASK_PIXELS = """() => {
  const c = document.getElementById('masks');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""


@pytest.fixture(scope="module")
def clip_root(tmp_path_factory, shared_data: Path) -> Path:
    """A data root holding the truck photo and the first 10 frames of the shared bedroom clip."""
    root = tmp_path_factory.mktemp("annotator-data")
    shutil.copy(shared_data / "images" / "truck.jpg", root / "truck.jpg")
    (root / "bedroom10").mkdir()
    for i in range(10):
        shutil.copy(shared_data / "videos" / "bedroom" / f"{i:05d}.jpg", root / "bedroom10" / f"{i:05d}.jpg")
    return root


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"],
        )
        yield browser
        browser.close()


def open_page(browser, base: str):
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page.goto(base + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.base_url = base
    return page


@pytest.fixture(scope="module")
def nano_page(browser, serve, clip_root: Path):
    return open_page(browser, serve(data_root=clip_root))


@pytest.fixture()
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MASKLET_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def click_video(page, x: float, y: float, button: str = "left") -> None:
    """Click the canvas at video pixel (x, y), whatever its on-screen scale."""
    box = page.locator("#masks").bounding_box()
    width, height = page.evaluate("() => [window.masklet.session.width, window.masklet.session.height]")
    page.mouse.click(box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height, button=button)


def wait_idle(page) -> None:
    page.wait_for_function("() => document.body.dataset.busy === '0'")


def server_masks(page, frame: int) -> list[np.ndarray]:
    sid = page.evaluate("() => window.masklet.session.session_id")
    return [rle_decode(m["rle"]) for m in httpx.get(f"{page.base_url}/api/sessions/{sid}/masks/{frame}").json()["masks"]]


def server_area(page, frame: int) -> int:
    return sum(int(m.sum()) for m in server_masks(page, frame))


def test_click_on_the_truck_shows_its_mask(nano_page, shots: Path) -> None:
    page = nano_page
    page.fill("#path", "truck.jpg")
    page.click("#open-path")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('Click the object')")
    page.screenshot(path=str(shots / "annotator-opened.png"))
    assert page.evaluate(COUNT_MASK_PIXELS) == 0
    click_video(page, 900, 700)
    page.wait_for_function("() => document.getElementById('status').textContent.includes('pixels on frame 0')")
    wait_idle(page)
    drawn = page.evaluate(COUNT_MASK_PIXELS)
    page.screenshot(path=str(shots / "annotator-truck.png"))
    assert drawn > 0, "no mask pixels on the canvas after clicking the truck"
    assert drawn == server_area(page, 0)  # the canvas shows exactly the service's mask
    assert server_masks(page, 0)[0][700, 900], "the mask does not cover the clicked pixel"
    # A second object from a dragged box, listed with its own colour.
    page.click("#add-object")
    box = page.locator("#masks").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 150, steps=5)
    page.mouse.up()
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('object 2')")
    assert page.locator("#objects li").count() == 2
    assert page.evaluate("() => Object.keys(window.masklet.masks.get(0)).sort()") == ["1", "2"]


def test_open_a_clip_propagate_and_export(nano_page, shots: Path, tmp_path: Path) -> None:
    page = nano_page
    page.fill("#path", "bedroom10")
    page.click("#open-path")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('10 frame(s)')")
    click_video(page, 300, 250)
    page.wait_for_function("() => document.getElementById('status').textContent.includes('pixels on frame 0')")
    click_video(page, 700, 100, button="right")  # a negative click refines the same object
    page.wait_for_function("() => document.getElementById('status').textContent.includes('pixels on frame 0')")
    page.click("#propagate-forward")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('propagated forward over 10 frames')",
                           timeout=120_000)
    assert page.evaluate("() => window.masklet.masks.size") == 10
    assert page.locator("#progress").get_attribute("value") == "10"
    # Scrub to a later frame: the canvas shows that frame's propagated mask.
    page.fill("#slider", "9")
    page.dispatch_event("#slider", "input")
    wait_idle(page)
    assert page.evaluate(COUNT_MASK_PIXELS) == server_area(page, 9)
    later = [server_area(page, t) for t in range(1, 10)]
    assert sum(later) > 0, "the masklet vanished on every later frame"
    page.screenshot(path=str(shots / "annotator-propagated.png"))
    # Correct a later frame with a click, then propagate again.
    page.fill("#slider", "5")
    page.dispatch_event("#slider", "input")
    wait_idle(page)
    click_video(page, 500, 300)
    page.wait_for_function("() => document.getElementById('status').textContent.includes('pixels on frame 5')")
    assert page.evaluate(COUNT_MASK_PIXELS) == server_area(page, 5)
    page.click("#propagate-forward")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('propagated forward over 10 frames')",
                           timeout=120_000)
    with page.expect_download() as download:
        page.click("#export-mp4")
    download.value.save_as(tmp_path / "overlay.mp4")
    import av

    with av.open(str(tmp_path / "overlay.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 10
    with page.expect_download() as download:
        page.click("#export-zip")
    path = tmp_path / "masks.zip"
    download.value.save_as(path)
    names = zipfile.ZipFile(path).namelist()
    assert names == [f"{t:05d}.png" for t in range(10)]
    from PIL import Image

    labels = np.asarray(Image.open(io.BytesIO(zipfile.ZipFile(path).read("00009.png"))))
    assert int((labels == 1).sum()) == server_area(page, 9)


def test_segment_everything_adds_the_objects_it_finds(nano_page, shots: Path) -> None:
    page = nano_page
    page.fill("#path", "truck.jpg")
    page.click("#open-path")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('Click the object')")
    page.click("#everything")
    page.wait_for_function("() => /new object\\(s\\) on frame 0/.test(document.getElementById('status').textContent)",
                           timeout=120_000)
    wait_idle(page)
    added = int(page.locator("#status").text_content().split()[0])
    page.screenshot(path=str(shots / "annotator-everything.png"))
    assert added >= 2, page.locator("#status").text_content()
    assert page.locator("#objects li").count() == added
    masks = server_masks(page, 0)
    assert len(masks) == added and all(m.any() for m in masks)
    # Overlaps are drawn once: the canvas holds the union of the service's masks.
    assert page.evaluate(COUNT_MASK_PIXELS) == int(np.logical_or.reduce(masks).sum())
