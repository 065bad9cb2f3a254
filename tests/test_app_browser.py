"""The served app in headless Chromium: queue -> ring -> expand -> block, with screenshots.

Serves app.py with `streamlit run` on a free port against the test database (the
RINGWATCH_* environment of the session), drives it with Playwright, and saves screenshots
under the test's tmp directory and in test-output/ at the repository root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, free_port

from graph.db.connection import read

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUT = ROOT / "test-output"


@pytest.fixture(scope="module")
def served_app(world, tmp_path_factory):
    """`streamlit run app.py` on a free port (the process is ours; stopped after the module)."""
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (CI's .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.wait_for_timeout(600)  # let charts finish drawing
    page.screenshot(path=str(path), full_page=True)
    OUT.mkdir(exist_ok=True)
    shutil.copy(path, OUT / path.name)
    return path


def wait_idle(page, timeout: float = 60_000) -> None:
    """Until Streamlit has finished the current run (its status widget shows 'Running' meanwhile)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout)


def test_queue_to_ring_expand_and_block(served_app, browser, driver, tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 1700})
    page.set_default_timeout(60_000)
    page.goto(served_app)
    page.get_by_text("Rings in queue").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    wait_idle(page)
    shot(page, tmp_path, "app-1-queue")

    # the queue's first row (top score) -> its ring
    top = read(driver, "MATCH (r:Ring) WHERE r.status <> 'watch' RETURN r.id AS id, r.status AS status "
                       "ORDER BY r.score DESC, r.id LIMIT 1")[0]
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # row-selection cell of the first data row
    pill = page.locator(".rw-pill")
    pill.wait_for()
    assert page.locator(".rw-title").inner_text().startswith(f"Ring {top['id']}")
    assert pill.get_attribute("data-status") == top["status"]
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    wait_idle(page)
    shot(page, tmp_path, "app-2-ring")

    # expand the node chosen in the selectbox (a binding entity)
    page.get_by_role("button", name="Expand", exact=True).click()
    page.get_by_text("Expanded ").first.wait_for()
    wait_idle(page)
    # ... and one more by clicking it in the chart (an unexpanded binding entity)
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    unexpanded = 'path[aria-roledescription="point"][aria-label*="expanded: no"]'
    node = chart.locator(", ".join(f'{unexpanded}[aria-label*="kind: {kind}"]'
                                   for kind in ("prompt template", "payment method", "IP address"))).first
    key = node.get_attribute("aria-label").split("key: ")[1].split(";")[0]
    node.click()
    page.get_by_text("Expanded ").filter(has_text=key[:8]).first.wait_for()
    wait_idle(page)
    shot(page, tmp_path, "app-3-expanded")

    # mark the ring blocked: decision, reason, analyst, record
    form = page.locator('[data-testid="stForm"]').first
    form.get_by_text("blocked", exact=True).click()
    form.get_by_label("Reason (required)").fill("shared virtual cards and ring-only coding templates")
    form.get_by_label("Analyst (required)").fill("playwright")
    form.get_by_role("button", name="Record decision").click()
    page.locator(".rw-pill[data-status='blocked']").wait_for()
    page.get_by_text(f"{top['status']} → blocked").first.wait_for()
    wait_idle(page)
    shot(page, tmp_path, "app-4-blocked")

    events = read(driver, "MATCH (d:Decision)-[:ON]->(r:Ring {id: $id}) RETURN d.analyst AS analyst, "
                          "d.status AS status, d.previous_status AS previous, d.reason AS reason", id=top["id"])
    assert events == [{"analyst": "playwright", "status": "blocked", "previous": top["status"],
                       "reason": "shared virtual cards and ring-only coding templates"}]
    assert read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s", id=top["id"])[0]["s"] == "blocked"

    # search an address of that ring
    ip = read(driver, "MATCH (:Ring {id: $id})<-[:MEMBER_OF]-(:Account)-[:USED_IP]->(i:IP) "
                      "RETURN i.address AS ip LIMIT 1", id=top["id"])[0]["ip"]
    page.locator('[data-testid="stSidebar"]').get_by_text("Search", exact=True).click()
    page.get_by_label("Account id, IP address", exact=False).fill(ip)
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text("Rings it touches").wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    wait_idle(page)
    shot(page, tmp_path, "app-5-search")
    page.close()
