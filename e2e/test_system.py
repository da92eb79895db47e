"""The system page in Chromium: the charts of requests and errors, drawn on the
server as SVG, show the routes requested earlier in the test and read well in
both themes; the settings page edits a setting, shows a refused value inline
and resets it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, BrowserContext, Locator, Page, expect

from e2e.pages import SettingsPage, SystemPage, overflow, shot
from e2e.test_theme import contrast, luminance

THIS_MONTH = datetime.now(UTC).strftime("%Y-%m")
RETENTION = "ROUTE_STATS_RETENTION_MONTHS"


def figure(bar: Locator) -> int:
    return int(bar.get_attribute("data-value") or "0")


def fill_contrast(element: Locator, against: Locator) -> float:
    """Contrast of an SVG element's computed fill with an element's background."""
    fill = element.evaluate("e => getComputedStyle(e).fill")
    background = against.evaluate("e => getComputedStyle(e).backgroundColor")
    return contrast(luminance(fill), luminance(background))


def test_the_system_page_charts_the_routes_requested_before(
    signed_in: Page, api: APIRequestContext, base_url: str
) -> None:
    # Often enough to be among the busiest routes the chart shows, whatever the
    # browser tests before this one requested.
    for _ in range(30):
        assert api.get("lists").status == 200
        assert api.get("tasks/987654321").status == 404  # error 28001 on the task route

    page = signed_in
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    system = SystemPage(page).open()
    expect(page.get_by_role("img", name="Requests and errors per month")).to_be_visible()
    expect(
        page.get_by_role("img", name=f"Requests and errors per route in {THIS_MONTH}")
    ).to_be_visible()

    lists_bar = system.route_bar("GET:/4/lists")
    expect(lists_bar).to_have_count(1)
    assert figure(lists_bar) >= 10
    assert (lists_bar.bounding_box() or {"width": 0})["width"] > 0
    task_errors = system.route_bar("GET:/4/tasks/{task_id}", "errors")
    expect(task_errors).to_have_count(1)
    assert figure(task_errors) >= 10
    assert figure(system.month_bar(THIS_MONTH)) >= 4
    assert figure(system.month_bar(THIS_MONTH, "errors")) >= 1
    # A bar's title is its tooltip and what a screen reader reads.
    expect(lists_bar.locator("title")).to_have_text(re.compile(r"^GET:/4/lists · requests: \d+$"))
    expect(system.postgresql_version).to_have_text(re.compile(r"^\d+"))
    # Nothing came from another host: no chart library, no fonts.
    assert requested and all(url.startswith(base_url) for url in requested), requested
    shot(page, "system")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_charts_read_well_in_both_themes(
    scheme: str,
    new_context: Callable[..., BrowserContext],
    session_cookies: Callable[[], list[Any]],
    api: APIRequestContext,
) -> None:
    api.get("lists")
    context = new_context(color_scheme=scheme, viewport={"width": 390, "height": 844})
    context.add_cookies(session_cookies())
    page = context.new_page()
    system = SystemPage(page).open()
    card = page.get_by_test_id("traffic")
    bar = system.route_bar("GET:/4/lists")
    error_bar = system.month_bar(THIS_MONTH, "errors")
    label = system.route_chart.locator("text.label").first
    expect(bar).to_have_count(1)
    # Graphics need 3:1 against what is behind them, text 4.5:1.
    assert fill_contrast(bar, card) >= 3
    assert fill_contrast(error_bar, card) >= 3
    assert fill_contrast(label, card) >= 4.5
    assert overflow(page) <= 0, f"the system page is {overflow(page)}px too wide"
    shot(page, f"system-{scheme}-phone")


def test_edit_a_setting_see_a_refused_value_inline_then_reset(
    signed_in: Page, api: APIRequestContext
) -> None:
    def stored() -> dict[str, Any]:
        settings = api.get("settings").json()["settings"]
        return next(s for s in settings if s["name"] == RETENTION)

    page = signed_in
    settings = SettingsPage(page).open()
    expect(settings.state(RETENTION)).to_have_text("default")

    settings.save(RETENTION, "forever")
    expect(settings.error(RETENTION)).to_have_text(
        f"{RETENTION}: 'forever' is not a whole number; expected a whole number from 1 to 120"
    )
    expect(settings.value(RETENTION)).to_have_value("forever")
    expect(settings.value(RETENTION)).to_have_attribute("aria-invalid", "true")
    expect(settings.state(RETENTION)).to_have_text("default")
    assert stored()["value"] == 24  # nothing changed

    settings.save(RETENTION, "121")
    expect(settings.error(RETENTION)).to_contain_text("121 is out of range")

    settings.save(RETENTION, "36")
    expect(settings.saved(RETENTION)).to_be_visible()
    expect(settings.error(RETENTION)).to_have_text("")
    expect(settings.state(RETENTION)).to_have_text("changed")
    assert stored()["value"] == 36
    assert page.url.endswith("/settings")  # htmx swapped the card in place
    shot(page, "settings")

    settings.reset(RETENTION)
    expect(settings.state(RETENTION)).to_have_text("default")
    expect(settings.value(RETENTION)).to_have_value("24")
    after = stored()
    assert (after["value"], after["is_default"]) == (24, True)


def test_edit_a_setting_without_javascript(
    new_context: Callable[..., BrowserContext],
    session_cookies: Callable[[], list[Any]],
    api: APIRequestContext,
) -> None:
    context = new_context(java_script_enabled=False)
    context.add_cookies(session_cookies())
    page = context.new_page()
    settings = SettingsPage(page).open()
    settings.save("LICENSE_FACES_LIMIT", "-5")
    expect(settings.error("LICENSE_FACES_LIMIT")).to_contain_text("-5 is out of range")
    settings.save("LICENSE_FACES_LIMIT", "5000")
    expect(settings.flash).to_have_text("LICENSE_FACES_LIMIT saved")
    expect(settings.value("LICENSE_FACES_LIMIT")).to_have_value("5000")
    settings.reset("LICENSE_FACES_LIMIT")
    expect(settings.flash).to_have_text("LICENSE_FACES_LIMIT reset to its default")
    expect(settings.value("LICENSE_FACES_LIMIT")).to_have_value("")
    limit = next(
        s for s in api.get("settings").json()["settings"] if s["name"] == "LICENSE_FACES_LIMIT"
    )
    assert limit["value"] is None and limit["is_default"] is True


def test_the_version_page(
    signed_in: Page, new_context: Callable[..., BrowserContext], base_url: str
) -> None:
    page = signed_in
    page.goto("/version")
    expect(page.get_by_test_id("version-api")).to_contain_text("4")
    expect(page.get_by_test_id("component-python")).to_have_text(re.compile(r"^3\.\d+\.\d+$"))
    expect(page.get_by_test_id("component-postgresql")).to_have_text(re.compile(r"^\d+"))
    shot(page, "version")
    # Without a session: the versions of the service, not of what it runs on.
    anonymous = new_context().new_page()
    anonymous.goto(f"{base_url}/version")
    expect(anonymous.get_by_test_id("version-service")).to_have_text(re.compile(r"^\d+\.\d+\.\d+$"))
    expect(anonymous.get_by_test_id("components-hidden")).to_be_visible()
    expect(anonymous.get_by_test_id("component-python")).to_have_count(0)
