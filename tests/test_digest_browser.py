"""The HTML digest in headless Chromium at phone and desktop widths: screenshots under out/, no horizontal overflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.digest import hostile_report, render, typical_report, with_follow_up, worst_report

pytestmark = pytest.mark.browser

OUT = Path(__file__).resolve().parents[1] / "out"

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const over = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {
      over.push(`${el.tagName.toLowerCase()}.${el.className} ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  const card = document.querySelector('table.card').getBoundingClientRect();
  return {scrollWidth: document.documentElement.scrollWidth, width, over: over.slice(0, 10),
          card: card.width, height: document.documentElement.scrollHeight};
}"""

DIGESTS = {
    "typical": typical_report,
    "worst": worst_report,
    "hostile": hostile_report,
    # issue 15's parts (the follow-up, relationships, follow-for-follow), ordinary and at their longest
    "follow-up": lambda: with_follow_up(typical_report()),
    "follow-up-worst": lambda: with_follow_up(worst_report(), name="n" * 200),
}


def _layout(browser: Any, html: str, width: int, screenshot: Path | None) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        # set_content: the digest loads nothing from the network (no images, no fonts, no scripts)
        page.set_content(html, wait_until="load")
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        result: dict[str, Any] = page.evaluate(OVERFLOW)
        return result
    finally:
        page.close()


@pytest.mark.parametrize("width", [375, 600])
@pytest.mark.parametrize("name", list(DIGESTS))
def test_digest_fits_the_screen_without_horizontal_scrolling(browser: Any, name: str, width: int) -> None:
    html, _ = render(DIGESTS[name]())
    OUT.mkdir(exist_ok=True)
    shot = OUT / f"digest-{name}-{width}.png"
    layout = _layout(browser, html, width, shot)
    assert layout["scrollWidth"] <= layout["width"], layout
    assert layout["over"] == [], layout
    assert layout["card"] <= width and shot.stat().st_size > 10_000


def test_the_card_is_600_px_wide_on_a_desktop(browser: Any) -> None:
    html, _ = render(typical_report())
    layout = _layout(browser, html, 1024, None)
    assert layout["card"] == 600 and layout["over"] == []
