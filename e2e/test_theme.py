"""Light and dark follow the system setting, and stay readable in both."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, expect

from e2e.pages import ADMIN_LOGIN, AccountPage


def luminance(css_colour: str) -> float:
    """WCAG relative luminance of an `rgb(...)`/`rgba(...)` computed colour."""
    r, g, b = (float(part) / 255 for part in re.findall(r"[\d.]+", css_colour)[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(a: float, b: float) -> float:
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def colours(locator: Locator) -> tuple[float, float]:
    """Luminance of the background and of the text of an element."""
    background, text = locator.evaluate(
        "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]"
    )
    return luminance(background), luminance(text)


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_colour_scheme_follows_the_system(
    scheme: str,
    new_context: Callable[..., BrowserContext],
    session_cookies: Callable[[], list[Any]],
) -> None:
    context = new_context(color_scheme=scheme)
    context.add_cookies(session_cookies())
    page = context.new_page()
    page.goto(f"/search?q={ADMIN_LOGIN}")  # the admin's own page: a form and both buttons
    account = AccountPage(page)
    expect(account.login).to_have_text(ADMIN_LOGIN)

    background, text = colours(page.locator("body"))
    field, _ = colours(account.delete_confirm)
    if scheme == "dark":
        assert background < 0.05 and field < 0.05, (background, field)
    else:
        assert background > 0.8 and field > 0.8, (background, field)
    assert contrast(background, text) >= 7, "body text must stay easy to read"
    # WCAG AA for normal-size text on the buttons.
    for button in (page.get_by_role("button", name="Find"), account.delete_button):
        assert contrast(*colours(button)) >= 4.5, f"{button} text is hard to read"
