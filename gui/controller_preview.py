"""Preview images of the controller layouts (docs/controllers/*.png), drawn with Qt offscreen.

Neither TouchOSC nor Open Stage Control runs here, so the screenshots in the docs are drawn
from the same description the layout files are written from (``bridge.controllers.layout``):
every page at its size and place, each control in its kind's shape, colour and caption, in
each app's own look (TouchOSC: coloured controls on black, captions drawn over them; Open
Stage Control: its grey widgets). Regenerate with::

    QT_QPA_PLATFORM=offscreen python -m gui.controller_preview docs/controllers
"""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter, QPen

from bridge.controllers.layout import PAGE_H, PAGE_W, Control, Page, build_layout

TAB_H = 48
STYLES = {
    "touchosc": {"bg": "#000000", "page": "#1a1c21", "text": "#ffffff", "tab": "#333842", "tab_on": "#5a6270",
                 "button": "#338cf2", "toggle": "#f28c26", "fader": "#40cc8c", "radio": "#a673f2", "display": "#262a31"},
    "open-stage-control": {"bg": "#1b1b1b", "page": "#262626", "text": "#e6e6e6", "tab": "#303030", "tab_on": "#4a4a4a",
                           "button": "#338cf2", "toggle": "#f28c26", "fader": "#40cc8c", "radio": "#a673f2", "display": "#303030"},
}


def _text(p: QPainter, rect: QRectF, text: str, size: int, color: str, flags: Qt.AlignmentFlag) -> None:
    font = QFont()
    font.setPixelSize(size)
    p.setFont(font)
    p.setPen(QColor(color))
    p.drawText(rect, int(flags | Qt.TextFlag.TextWordWrap), text)


def _control(p: QPainter, c: Control, style: dict[str, str], x0: float, y0: float) -> None:
    x, y, w, h = c.rect
    r = QRectF(x0 + x, y0 + y, w, h)
    center = Qt.AlignmentFlag.AlignCenter
    if c.kind == "title":
        _text(p, r, c.label, 18, style["text"], Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return
    color = QColor(style.get(c.kind, style["display"]))
    p.setPen(QPen(color, 2))
    dim = QColor(color)
    dim.setAlpha(70)
    p.setBrush(dim)
    p.drawRoundedRect(r, 5, 5)
    if c.kind == "display":
        top = QRectF(r.x(), r.y(), r.width(), r.height() / 3)
        _text(p, top, c.label, 11, style["text"], center)
        _text(p, QRectF(r.x(), r.y() + r.height() / 3, r.width(), r.height() * 2 / 3), "-", 16, style["text"], center)
        return
    if c.kind == "fader":
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        fill = 0.5
        if c.vertical:
            p.drawRoundedRect(QRectF(r.x() + 2, r.bottom() - r.height() * fill, r.width() - 4, r.height() * fill - 2), 4, 4)
        else:
            p.drawRoundedRect(QRectF(r.x() + 2, r.y() + 2, r.width() * fill, r.height() - 4), 4, 4)
    if c.kind == "radio":
        step = r.width() / len(c.options)
        for i, option in enumerate(c.options):
            cellr = QRectF(r.x() + i * step, r.y(), step, r.height())
            if i == 0:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(color)
                p.drawRoundedRect(cellr.adjusted(2, 2, -2, -2), 4, 4)
            p.setPen(QPen(color, 1))
            if i:
                p.drawLine(cellr.topLeft(), cellr.bottomLeft())
            _text(p, cellr, option, 12, style["text"], center)
        return
    if c.kind == "toggle" and c.receive and not c.send:  # an indicator
        p.setBrush(color)
        p.drawEllipse(QRectF(r.x() + 6, r.center().y() - 5, 10, 10))
    _text(p, r.adjusted(4, 2, -4, -2), c.label, 13, style["text"], center)


def render_page(p: QPainter, page: Page, pages: list[Page], style: dict[str, str], x0: float, y0: float) -> None:
    p.fillRect(QRectF(x0, y0, PAGE_W, TAB_H + PAGE_H), QColor(style["bg"]))
    tab_w = PAGE_W / len(pages)
    for i, other in enumerate(pages):
        t = QRectF(x0 + i * tab_w + 1, y0 + 1, tab_w - 2, TAB_H - 2)
        p.fillRect(t, QColor(style["tab_on" if other is page else "tab"]))
        _text(p, t, other.name, 16, style["text"], Qt.AlignmentFlag.AlignCenter)
    p.fillRect(QRectF(x0, y0 + TAB_H, PAGE_W, PAGE_H), QColor(style["page"]))
    for c in page.controls:
        _control(p, c, style, x0, y0 + TAB_H)


def render_layout(fmt: str, pages: list[Page] | None = None, scale: float = 0.5) -> QImage:
    """All pages of one layout, two per row, at ``scale``."""
    pages = build_layout() if pages is None else pages
    style = STYLES[fmt]
    cols = 2
    rows = (len(pages) + cols - 1) // cols
    page_h = TAB_H + PAGE_H
    image = QImage(round(cols * PAGE_W * scale), round(rows * page_h * scale), QImage.Format.Format_RGB32)
    image.fill(QColor(style["bg"]))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(scale, scale)
    for i, page in enumerate(pages):
        render_page(p, page, pages, style, (i % cols) * PAGE_W, (i // cols) * page_h)
    p.end()
    return image


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0] if args else "docs/controllers")
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    out.mkdir(parents=True, exist_ok=True)
    for fmt in STYLES:
        path = out / f"{fmt}.png"
        if not render_layout(fmt).save(str(path)):
            print(f"cannot write {path}", file=sys.stderr)
            return 1
        print(f"wrote {path}")
    del _app
    return 0


if __name__ == "__main__":
    sys.exit(main())
