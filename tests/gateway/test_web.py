"""The web page in a real headless Chromium (Debian's, driven by Playwright) against a real
stack: sign in, send a message, watch the steps tick, see the answer, cancel a second task.

Screenshots are saved under test-artifacts/web/ (printed in the test report).
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.fixtures.processes import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "web"
# Without the background-networking flags Chromium keeps trying hosts this machine cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    print(f"screenshot: {path}")


async def sign_in(page: Page, base_url: str, token: str) -> None:
    await page.goto(base_url + "/")
    await page.fill("#token", token)
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector("#app:not([hidden])")
    await page.wait_for_selector("#connection.live")


async def send(page: Page, text: str) -> None:
    await page.fill("#message", text)
    await page.click("#composer button[type=submit]")


async def test_sign_in_send_watch_steps_answer_and_cancel(make_stack, browser: Browser) -> None:
    # A slow offline model, so that the steps can be seen ticking and a task cancelled mid-way.
    stack = await make_stack(OFFLINE_LATENCY="0.3")
    page = await browser.new_page(viewport={"width": 1100, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    # A wrong token is refused; the right one signs in.
    await page.goto(stack.base_url + "/")
    await page.fill("#token", "jv_not-a-token")
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector("#signin-error:text('not valid')")
    await sign_in(page, stack.base_url, stack.token)
    await shot(page, "1-signed-in")

    await page.click("#new-chat")
    await page.wait_for_selector("#chats li.active")
    await send(page, "Research PostgreSQL advisory locks and summarise")
    card = page.locator(".task").first
    # The plan appears, then its steps tick off one after another.
    await card.locator(".step").first.wait_for()
    steps = await card.locator(".step").count()
    assert steps >= 2
    await card.locator('.step[data-state="running"]').first.wait_for(timeout=30_000)
    await shot(page, "2-running")
    await card.locator('.step[data-state="done"]').nth(steps - 1).wait_for(timeout=60_000)
    await page.wait_for_selector('.task[data-status="succeeded"]', timeout=60_000)
    assert await card.locator(".progress li").count() >= 1
    answer = await card.locator(".answer").inner_text()
    assert "offline model" in answer
    assert await card.locator(".answer script").count() == 0
    await shot(page, "3-answered")

    # The gateway restarts, closing the page's socket: the page reconnects by itself (the old
    # socket is gone, so the second task's steps below can only tick over a new one).
    await stack.restart("gateway", sig=signal.SIGTERM)
    await page.wait_for_selector("#connection.live", timeout=30_000)

    # A second task, cancelled while it runs.
    await send(page, "Compare Redis streams and PostgreSQL LISTEN for live updates")
    second = page.locator(".task").nth(1)
    await second.locator('.step[data-state="running"]').first.wait_for(timeout=30_000)
    await second.locator("button.cancel").click()
    await page.wait_for_selector('.task[data-status="cancelled"]', timeout=60_000)
    assert "Stopped after" in await second.locator(".answer").inner_text()
    await shot(page, "4-cancelled")

    # A reload catches up from the server: both tasks are there, nothing twice.
    await page.reload()
    await page.wait_for_selector("#connection.live")
    await page.wait_for_selector(".message.assistant")
    assert await page.locator(".message.user").count() == 2
    assert await page.locator(".message.assistant").count() == 1

    # Phone-sized: the chat list folds away behind a button.
    await page.set_viewport_size({"width": 390, "height": 800})
    assert await page.locator("#toggle-sidebar").is_visible()
    await shot(page, "5-phone")
    assert not errors, errors
    # Nothing is loaded from another host: no CDN, no fonts, no analytics.
    host = stack.base_url.split("://", 1)[1]
    assert requested and all(url.split("://", 1)[1].startswith(host + "/") for url in requested), [
        url for url in requested if not url.split("://", 1)[1].startswith(host + "/")
    ]


HOSTILE_MARKDOWN = """# Title
<script>window.pwned = 1</script>
<img src=x onerror="window.pwned = 2">
[click](javascript:window.pwned=3) and [ok](https://example.com/a?b=1&c=2)
**bold** and `code <b>`
"""


async def test_answers_are_rendered_as_sanitised_markdown(make_stack, browser: Browser) -> None:
    stack = await make_stack()
    page = await browser.new_page()
    response = await page.goto(stack.base_url + "/")
    assert response is not None
    # The page's own policy forbids scripts and connections to other hosts as a second guard.
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy, policy

    html = await page.evaluate("(text) => Markdown.render(text)", HOSTILE_MARKDOWN)
    await page.evaluate(
        "(html) => { const d = document.createElement('div'); d.id = 'probe';"
        " d.innerHTML = html; document.body.append(d); }",
        html,
    )
    probe = page.locator("#probe")
    assert await probe.locator("h3").inner_text() == "Title"  # shifted below the page's own
    assert await probe.locator("strong").inner_text() == "bold"
    assert await probe.locator("script, img, [onerror]").count() == 0
    hrefs = await probe.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs == ["https://example.com/a?b=1&c=2"], hrefs
    assert "<script>" in await probe.inner_text()  # shown as text, not run
    assert await page.evaluate("window.pwned") is None
