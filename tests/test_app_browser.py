"""The served app in headless Chromium: log in -> queue -> ring -> expand -> block -> search, with screenshots.

Serves app.py with `streamlit run` on a free port against the test database (the
RINGWATCH_* environment of the session), logs in through the login form as a local
analyst made with `add_user`, drives the app with Playwright, and saves screenshots
under the test's tmp directory and in test-output/ at the repository root.
`serve()` and the browser helpers are shared with tests/test_app_login.py (single sign-on).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT, free_port

from graph.db.connection import read, write
from graph.review.actors import Actor, cli_actor
from graph.review.decisions import awaiting, decide, history
from graph.review.users import add_user

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUT = ROOT / "test-output"


PASSWORD = "playwright's own password"


@contextmanager
def serve(log: Path, *extra: str, port: int | None = None, cwd: Path = ROOT) -> Iterator[str]:
    """`streamlit run app.py` on `port` (a free one by default); yields its URL; the process is ours, stopped
    on exit.

    `extra` are more `streamlit run` options (e.g. --secrets.files); with cwd=ROOT the repository's
    .streamlit/config.toml applies.
    """
    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app.py"),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        *extra,
    ]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
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
def served_app(world, tmp_path_factory):
    """The app on a free port, with a local analyst `playwright` to log in as."""
    from graph.db.connection import open_driver

    d = open_driver()
    try:
        add_user(d, cli_actor(), "playwright", "analyst", PASSWORD)
    finally:
        d.close()
    with serve(tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def leads(served_app):
    """Two leads, for a block that waits for a second person's approval."""
    from graph.db.connection import open_driver

    d = open_driver()
    try:
        for name in ("lead-one", "lead-two"):
            add_user(d, cli_actor(), name, "lead", PASSWORD)
    finally:
        d.close()
    return ("lead-one", "lead-two")


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


CANVAS = 'iframe[src*="st_link_analysis"]'
CY = "document.getElementById('cy')?._cyreg?.cy"


def canvas(page):
    """The graph canvas (st-link-analysis's iframe) once Cytoscape has drawn nodes: (iframe locator, frame)."""
    frame_el = page.locator(CANVAS).first
    frame_el.wait_for()
    frame = frame_el.element_handle().content_frame()
    frame.wait_for_selector("#cy canvas", state="attached")
    page.wait_for_function(
        "el => { const cy = el.contentDocument?.getElementById('cy')?._cyreg?.cy; return cy && cy.nodes().length > 0 }",
        arg=frame_el.element_handle(),
    )
    return frame_el, frame


def canvas_nodes(frame) -> list[dict]:
    """Every node Cytoscape has drawn: id, data, its position on the page's viewport (inside the iframe), its
    caption, whether Cytoscape draws the caption at this zoom (its own test, min-zoomed-font-size) and the
    caption's size on screen (font size x zoom)."""
    return frame.evaluate(
        f"""() => {{
        const cy = {CY}; const box = document.getElementById('cy').getBoundingClientRect();
        return cy.nodes().map(n => ({{id: n.id(), kind: n.data('kind'), expanded: n.data('expanded'),
            x: box.left + n.renderedPosition('x'), y: box.top + n.renderedPosition('y'),
            px: n.position('x'), py: n.position('y'), caption: n.style('label'),
            caption_shown: cy.renderer().eleTextBiggerThanMin(n),
            caption_px: parseFloat(n.style('font-size')) * cy.zoom()}}));
        }}"""
    )


LEGIBLE_PX = 9.5  # a caption this large on screen (or larger) reads


def assert_captions_legible(nodes: list[dict]) -> None:
    """Every node (of a small ring, fitted) drawn with its short caption, shown, and large enough to read."""
    assert all(n["caption"] for n in nodes), [n["id"] for n in nodes if not n["caption"]]
    assert all(len(n["caption"]) <= 15 for n in nodes), [n["caption"] for n in nodes if len(n["caption"]) > 15]
    assert all(n["caption_shown"] for n in nodes), [n["id"] for n in nodes if not n["caption_shown"]]
    small = [(n["id"], round(n["caption_px"], 1)) for n in nodes if n["caption_px"] < LEGIBLE_PX]
    assert not small, small


def label_cut(page, name: str) -> bool:
    """Whether the button `name`'s label is cut short (an ellipsis: its text is wider than its box)."""
    return page.get_by_role("button", name=name).evaluate(
        "b => [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)"
    )


def on_page(frame_el, node: dict) -> tuple[float, float]:
    box = frame_el.bounding_box()
    return box["x"] + node["x"], box["y"] + node["y"]


def local_log_in(page, name: str, password: str) -> None:
    """Fill the login form and press "Log in"."""
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()


def canvas_zoom_and_expand(page, tmp_path: Path) -> None:
    """On the ring's canvas: every node drawn, the wheel zooms, Expand (the selectbox's node), then a double
    click on an unexpanded binding entity adds its neighbours while it stays where it is."""
    frame_el, frame = canvas(page)
    wait_idle(page)
    drawn = canvas_nodes(frame)
    caption = page.get_by_text("of at most 150 nodes drawn").first.inner_text()
    assert len(drawn) == int(caption.split(" of at most")[0]) > 0  # every node of the ring's graph is drawn
    assert {n["kind"] for n in drawn} >= {"account"}
    assert_captions_legible(drawn)
    shot(page, tmp_path, "app-2-ring")

    # zoom with the wheel over the canvas
    zoom = frame.evaluate(f"() => {CY}.zoom()")
    box = frame_el.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(800)
    assert frame.evaluate(f"() => {CY}.zoom()") > zoom
    frame.evaluate(f"() => {CY}.fit()")

    # expand the node chosen in the selectbox (a binding entity)
    page.get_by_role("button", name="Expand", exact=True).click()
    page.get_by_text("Expanded ").first.wait_for()
    wait_idle(page)
    frame_el, frame = canvas(page)  # each expansion draws a new canvas (canvas.draw)
    # ... and one more by double-clicking it on the canvas (an unexpanded binding entity)
    kinds = ("prompt template", "payment method", "IP address")
    node = next(n for n in canvas_nodes(frame) if n["kind"] in kinds and n["expanded"] == "no")
    before = {n["id"]: (n["px"], n["py"]) for n in canvas_nodes(frame)}
    page.mouse.dblclick(*on_page(frame_el, node))
    page.get_by_text("Expanded ").filter(has_text=node["id"].split(":", 1)[1][:8]).first.wait_for()
    wait_idle(page)
    page.wait_for_timeout(1500)
    frame_el, frame = canvas(page)  # each expansion draws a new canvas (canvas.draw)
    after = {n["id"]: n for n in canvas_nodes(frame)}
    assert set(before) <= set(after)  # its neighbours are drawn (in a small ring they may be already) ...
    # ... and every node drawn before stayed where it was (within a pixel)
    moved = {n: max(abs(after[n]["px"] - x), abs(after[n]["py"] - y)) for n, (x, y) in before.items()}
    assert {n: d for n, d in moved.items() if d > 1} == {}
    assert_captions_legible(list(after.values()))
    shot(page, tmp_path, "app-3-expanded")


def test_queue_to_ring_expand_and_block(served_app, browser, driver, tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 1700})
    page.set_default_timeout(60_000)
    page.goto(served_app)
    # nothing but the login page until someone logs in; a wrong password is refused
    local_log_in(page, "playwright", "not the password")
    page.get_by_text("Wrong user name or password.").wait_for()
    assert page.get_by_text("Rings in queue").count() == 0
    wait_idle(page)
    shot(page, tmp_path, "app-0-login")
    local_log_in(page, "playwright", PASSWORD)
    page.get_by_text("Rings in queue").wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Logged in as").wait_for()
    assert "playwright (analyst)" in sidebar.inner_text()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    wait_idle(page)
    shot(page, tmp_path, "app-1-queue")

    # the queue's first row (top score) -> its ring
    top = read(
        driver,
        "MATCH (r:Ring) WHERE r.status <> 'watch' RETURN r.id AS id, r.status AS status "
        "ORDER BY r.score DESC, r.id LIMIT 1",
    )[0]
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # row-selection cell of the first data row
    pill = page.locator(".rw-pill")
    pill.wait_for()
    assert page.locator(".rw-title").inner_text().startswith(f"Ring {top['id']}")
    assert pill.get_attribute("data-status") == top["status"]
    canvas_zoom_and_expand(page, tmp_path)

    # mark the ring blocked: decision, reason, record (as the logged-in user: nobody types a name)
    form = page.locator('[data-testid="stForm"]').filter(has_text="Record a decision")
    assert form.get_by_label("Analyst (required)").count() == 0
    form.get_by_text("blocked", exact=True).click()
    form.get_by_label("Reason (required)").fill("shared virtual cards and ring-only coding templates")
    form.get_by_role("button", name="Record decision").click()
    page.locator(".rw-pill[data-status='blocked']").wait_for()
    page.get_by_text(f"{top['status']} → blocked").first.wait_for()
    wait_idle(page)
    shot(page, tmp_path, "app-4-blocked")

    events = read(
        driver,
        "MATCH (d:Decision)-[:ON]->(r:Ring {id: $id}) RETURN d.actor AS actor, d.role AS role, "
        "d.channel AS channel, d.status AS status, d.previous_status AS previous, "
        "d.reason AS reason",
        id=top["id"],
    )
    assert events == [
        {
            "actor": "playwright",
            "role": "analyst",
            "channel": "app",
            "status": "blocked",
            "previous": top["status"],
            "reason": "shared virtual cards and ring-only coding templates",
        }
    ]
    assert read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s", id=top["id"])[0]["s"] == "blocked"

    # search an address of that ring
    ip = read(
        driver,
        "MATCH (:Ring {id: $id})<-[:MEMBER_OF]-(:Account)-[:USED_IP]->(i:IP) RETURN i.address AS ip LIMIT 1",
        id=top["id"],
    )[0]["ip"]
    page.locator('[data-testid="stSidebar"]').get_by_text("Search", exact=True).click()
    page.get_by_label("Account id, IP address", exact=False).fill(ip)
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text("Rings it touches").wait_for()
    canvas(page)
    wait_idle(page)
    shot(page, tmp_path, "app-5-search")
    page.close()


def ring_page_shown(page, ring_id: str) -> None:
    page.locator(".rw-title").filter(has_text=f"Ring {ring_id}").wait_for()
    canvas(page)
    wait_idle(page)


def test_members_awaiting_review_and_a_block_waiting_for_approval(
    served_app, leads, browser, driver, tmp_path, monkeypatch
):
    ring_id, size = read(
        driver,
        "MATCH (r:Ring) WHERE r.status = 'suspected' RETURN r.id AS id, r.size AS n ORDER BY r.size DESC LIMIT 1",
    )[0].values()
    # a block by one lead over the approval threshold (here: the ring's size - 1) waits for another
    monkeypatch.setenv("RINGWATCH_APPROVAL_THRESHOLD", str(size - 1))
    block = decide(driver, Actor(leads[0], "lead"), ring_id, "blocked", "a large farm: payments and templates")
    assert block["pending"]
    context = browser.new_context(viewport={"width": 1440, "height": 1500})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{served_app}/?ring={ring_id}")  # a link to the ring: it opens once logged in
    local_log_in(page, leads[1], PASSWORD)
    ring_page_shown(page, ring_id)
    page.locator(".rw-flag[data-flag='waiting-for-approval']").wait_for()
    page.get_by_text("Waiting for approval").first.wait_for()
    shot(page, tmp_path, "app-6-waiting-for-approval")
    form = page.locator('[data-testid="stForm"]').filter(has_text="Approve")
    form.get_by_label("Reason (required)").fill("checked twenty members: all farm")
    form.get_by_role("button", name="Approve").click()
    page.locator(".rw-pill[data-status='blocked']").wait_for()
    page.get_by_text("Approved: the block of").wait_for()
    assert page.locator(".rw-flag").count() == 0
    # three accounts join the blocked ring later (as a detection run would add them): awaiting review
    joined = [
        r["id"]
        for r in read(driver, "MATCH (a:Account) WHERE NOT (a)-[:MEMBER_OF]->() RETURN a.id AS id ORDER BY id LIMIT 3")
    ]
    write(
        driver,
        "MATCH (r:Ring {id: $ring}) UNWIND $ids AS id MATCH (a:Account {id: id}) "
        "CREATE (a)-[:MEMBER_OF {is_new: true, active: true, strength: 1.0, evidence: 'joined later'}]->(r) "
        "WITH DISTINCT r SET r.awaiting = size($ids)",
        ring=ring_id,
        ids=joined,
    )
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Ring queue", exact=True).click()  # away and back: the page reads the ring again
    page.get_by_text("Rings in queue").wait_for()
    sidebar.get_by_text("Ring", exact=True).click()
    ring_page_shown(page, ring_id)
    page.get_by_text("3 new members awaiting review").wait_for()
    button = page.get_by_role("button", name="Extend the blocked to these 3 new members")
    button.wait_for()
    shot(page, tmp_path, "app-7-awaiting-review")
    page.locator('[data-testid="stForm"]').filter(has=button).get_by_label("Reason (required)").fill(
        "same cards and templates as the blocked members"
    )
    button.click()
    page.get_by_text("Extended to 3 new members").wait_for()
    wait_idle(page)
    shot(page, tmp_path, "app-8-extended")
    assert awaiting(driver, ring_id) == []
    events = history(driver, ring_id)
    assert [(e["action"], e["actor"]) for e in events] == [
        ("extend", leads[1]),
        ("approve", leads[1]),
        ("decide", leads[0]),
    ]
    context.close()


def test_a_saved_view_opens_for_a_colleague_and_a_case_is_assigned(served_app, leads, browser, driver, tmp_path):
    """Expand on the canvas, save the view; its link in a second browser context (another user) draws the same
    nodes. On the way: "Assign to me" and a comment, then "assigned to me" on the queue."""
    ring_id = read(
        driver,
        "MATCH (r:Ring) WHERE r.status = 'suspected' AND r.assignee IS NULL RETURN r.id AS id "
        "ORDER BY r.score DESC LIMIT 1",
    )[0]["id"]
    first = browser.new_context(viewport={"width": 1440, "height": 1700})
    page = first.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{served_app}/?ring={ring_id}")
    local_log_in(page, leads[0], PASSWORD)
    ring_page_shown(page, ring_id)
    # the case: take it (its button's label whole in the narrow column), say something
    assert not label_cut(page, "Assign to me")
    page.get_by_role("button", name="Assign to me").click()
    page.locator(f".rw-case[data-assignee='{leads[0]}'][data-state='in progress']").wait_for()
    page.get_by_label("Add a comment").fill("Checking the shared cards with payments.")
    page.get_by_role("button", name="Add comment").click()
    page.locator(".rw-comment").filter(has_text="Checking the shared cards with payments.").wait_for()
    wait_idle(page)
    shot(page, tmp_path, "app-9-case")
    # expand a node by double-clicking it on the canvas, then save the view
    frame_el, frame = canvas(page)
    node = next(n for n in canvas_nodes(frame) if n["kind"] != "account" and n["expanded"] == "no")
    page.mouse.dblclick(*on_page(frame_el, node))
    page.get_by_text("Expanded ").first.wait_for()
    wait_idle(page)
    page.wait_for_timeout(1500)
    _, frame = canvas(page)
    drawn = {n["id"] for n in canvas_nodes(frame)}
    page.get_by_text("Saved views (0)").click()
    page.get_by_label("Save this graph (members drawn and expansions) as").fill("cards, expanded")
    page.get_by_role("button", name="Save view").click()
    link = page.locator("a.rw-view").filter(has_text="cards, expanded")
    link.wait_for()
    page.get_by_text("View saved: anyone logged in opens it").wait_for()  # the page's flash: a whole rerun
    href = link.get_attribute("href")
    view = read(driver, "MATCH (v:SavedView {name: 'cards, expanded'}) RETURN v.id AS id, v.nodes AS nodes")[0]
    assert href == f"./?view={view['id']}" and set(view["nodes"]) == drawn
    # a colleague, in another browser context, follows the link
    second = browser.new_context(viewport={"width": 1440, "height": 1500})
    other = second.new_page()
    other.set_default_timeout(60_000)
    other.goto(f"{served_app}/{href}")
    local_log_in(other, leads[1], PASSWORD)
    ring_page_shown(other, ring_id)
    _, other_frame = canvas(other)
    other.wait_for_timeout(1000)
    assert {n["id"] for n in canvas_nodes(other_frame)} == drawn
    assert next(n for n in canvas_nodes(other_frame) if n["id"] == node["id"])["expanded"] == "yes"  # redrawn
    shot(other, tmp_path, "app-10-saved-view")
    # the first lead's queue, "assigned to me"
    page.locator('[data-testid="stSidebar"]').get_by_text("Ring queue", exact=True).click()
    page.get_by_text("Rings in queue").wait_for()
    wait_idle(page)
    page.get_by_label("Cases", exact=True).click()
    page.get_by_role("option", name="assigned to me").click()
    wait_idle(page)
    page.get_by_text("Rings in queue").wait_for()
    shot(page, tmp_path, "app-11-assigned-to-me")
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == "1"
    first.close()
    second.close()
