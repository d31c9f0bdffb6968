"""The layout as a TouchOSC document (``.tosc``): zlib-compressed XML of the current TouchOSC
format (``<lexml version='3'>``: nodes with typed properties, values, OSC messages and children).

* The root GROUP holds a PAGER whose child GROUPs are the pages (``tabLabel`` names the tab).
* Every OSC message uses connection 1 (mask ``0000000001``): in TouchOSC set connection 1 to
  UDP, host = the computer running GrooveBridge, send port 9000, receive port 9001.
* A control's send message carries its value (``VALUE x``, scaled to the control's range,
  FLOAT or INTEGER) or its constants (sent on press only, trigger RISE); a fader that applies
  on release (humanize) triggers on its ``touch`` value falling. A receive message on the echo
  address moves the control; text displays are LABELs whose ``text`` value receives.
* TouchOSC buttons draw no text, so every caption is a non-interactive LABEL over the control.
* Node IDs are UUIDs derived from the page and control names, so the same table gives the same
  bytes (the committed file is compared with a fresh one in the tests).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Sequence

from bridge.controllers.layout import PAGE_H, PAGE_W, Control, Page

TAB_H = 48
CONNECTION = "0000000001"
_NS = uuid.UUID("6f1c7a52-3c1e-4c55-9a43-9b8a0d7e0a26")
_COLORS = {
    "button": (0.20, 0.55, 0.95), "toggle": (0.95, 0.55, 0.15), "fader": (0.25, 0.80, 0.55),
    "radio": (0.65, 0.45, 0.95), "display": (0.85, 0.85, 0.85), "title": (0.85, 0.85, 0.85),
    "page": (0.10, 0.11, 0.13),
}
_TYPES = {"button": "BUTTON", "toggle": "BUTTON", "fader": "FADER", "radio": "RADIO"}


def _num(v: float) -> str:
    return f"{v:g}"


def _prop(parent: ET.Element, ptype: str, key: str, value: object) -> None:
    p = ET.SubElement(parent, "property", type=ptype)
    ET.SubElement(p, "key").text = key
    v = ET.SubElement(p, "value")
    if ptype == "r":
        for k, n in zip("xywh", value, strict=True):  # type: ignore[call-overload]
            ET.SubElement(v, k).text = str(int(n))
    elif ptype == "c":
        for k, n in zip("rgba", (*value, 1.0), strict=True):  # type: ignore[misc]
            ET.SubElement(v, k).text = _num(n)
    elif ptype == "b":
        v.text = "1" if value else "0"
    else:
        v.text = str(value)


def _value(parent: ET.Element, key: str, default: str) -> None:
    v = ET.SubElement(parent, "value")
    for tag, text in (("key", key), ("locked", "0"), ("lockedDefaultCurrent", "0"),
                      ("default", default), ("defaultPull", "0")):
        ET.SubElement(v, tag).text = text


def _partial(parent: ET.Element, ptype: str, conversion: str, value: str, lo: float = 0, hi: float = 1) -> None:
    p = ET.SubElement(parent, "partial")
    for tag, text in (("type", ptype), ("conversion", conversion), ("value", value),
                      ("scaleMin", _num(lo)), ("scaleMax", _num(hi))):
        ET.SubElement(p, tag).text = text


def _osc(messages: ET.Element, address: str, *, send: bool, receive: bool, trigger: tuple[str, str] = ("x", "ANY"),
         args: Sequence[tuple[str, str, str, float, float]] = ()) -> None:
    m = ET.SubElement(messages, "osc")
    for tag, on in (("enabled", True), ("send", send), ("receive", receive), ("feedback", False), ("noDuplicates", False)):
        ET.SubElement(m, tag).text = "1" if on else "0"
    ET.SubElement(m, "connections").text = CONNECTION
    t = ET.SubElement(ET.SubElement(m, "triggers"), "trigger")
    ET.SubElement(t, "var").text = trigger[0]
    ET.SubElement(t, "condition").text = trigger[1]
    _partial(ET.SubElement(m, "path"), "CONSTANT", "STRING", address)
    a = ET.SubElement(m, "arguments")
    for ptype, conversion, value, lo, hi in args:
        _partial(a, ptype, conversion, value, lo, hi)


def _node(parent: ET.Element, ntype: str, key: str, name: str, frame: tuple[int, int, int, int],
          color: tuple[float, float, float], interactive: bool = True) -> tuple[ET.Element, ET.Element, ET.Element]:
    node = ET.SubElement(parent, "node", ID=str(uuid.uuid5(_NS, key)), type=ntype)
    props = ET.SubElement(node, "properties")
    _prop(props, "b", "background", True)
    _prop(props, "c", "color", color)
    _prop(props, "f", "cornerRadius", 4)
    _prop(props, "r", "frame", frame)
    _prop(props, "b", "interactive", interactive)
    _prop(props, "b", "locked", False)
    _prop(props, "s", "name", name)
    _prop(props, "b", "outline", True)
    _prop(props, "b", "visible", True)
    values = ET.SubElement(node, "values")
    _value(values, "touch", "false")
    return node, props, values


def _label(children: ET.Element, key: str, frame: tuple[int, int, int, int], text: str, size: int = 14,
           receive: str = "") -> None:
    node, props, values = _node(children, "LABEL", key, key.rsplit("/", 1)[-1], frame, (0.0, 0.0, 0.0), interactive=False)
    _prop(props, "b", "background", False)
    _prop(props, "i", "textSize", size)
    _prop(props, "c", "textColor", (1.0, 1.0, 1.0))
    _value(values, "text", text)
    messages = ET.SubElement(node, "messages")
    if receive:
        _osc(messages, receive, send=False, receive=True, trigger=("text", "ANY"),
             args=[("VALUE", "STRING", "text", 0, 1)])
    ET.SubElement(node, "children")


def _control(children: ET.Element, page: str, k: int, c: Control) -> None:
    key = f"{page}/{k}/{c.label}"
    x, y, w, h = c.rect
    if c.kind in ("display", "title"):
        if c.kind == "title":
            _label(children, key, c.rect, c.label, size=18)
            return
        _label(children, key + "/caption", (x, y, w, h // 3), c.label, size=11)
        _label(children, key, (x, y + h // 3, w, h - h // 3), "-", size=16, receive=c.receive)
        return
    node, props, values = _node(children, _TYPES[c.kind], key, c.label, c.rect, _COLORS[c.kind],
                                interactive=bool(c.send))
    conversion = "INTEGER" if c.integer else "FLOAT"
    if c.kind in ("button", "toggle"):
        _prop(props, "i", "buttonType", 1 if c.kind == "toggle" else 0)
        _prop(props, "b", "press", True)
        _prop(props, "b", "release", True)
        _value(values, "x", "0")
    elif c.kind == "fader":
        _prop(props, "b", "bar", True)
        _prop(props, "i", "orientation", 0 if c.vertical else 1)
        _value(values, "x", "0")
    else:  # radio
        _prop(props, "i", "steps", len(c.options))
        _prop(props, "i", "orientation", 1)
        _value(values, "x", "0")
    messages = ET.SubElement(node, "messages")
    # TouchOSC scales as lo + x * (hi - lo); a radio's x is its index 0, 1, 2 ... already
    lo, hi = (0, 1) if c.kind == "radio" else (c.lo, c.hi)
    value_arg = [("VALUE", conversion, "x", lo, hi)]
    if c.send and c.constant:
        consts = [("CONSTANT", "INTEGER" if isinstance(v, int) else "FLOAT", str(v), 0, 1) for v in c.constant]
        _osc(messages, c.send, send=True, receive=False, trigger=("x", "RISE"), args=consts)
    elif c.send:
        trigger = ("touch", "FALL") if c.on_release else ("x", "ANY")
        _osc(messages, c.send, send=True, receive=c.receive == c.send, trigger=trigger, args=value_arg)
    if c.receive and c.receive != c.send:
        _osc(messages, c.receive, send=False, receive=True, args=value_arg)
    ET.SubElement(node, "children")
    if c.kind == "radio":
        step = w / len(c.options)
        for i, option in enumerate(c.options):
            _label(children, f"{key}/{option}", (round(x + i * step), y, round(step), h), option, size=12)
        return
    _label(children, key + "/caption", c.rect, c.label, size=13)


def touchosc_xml(pages: list[Page]) -> bytes:
    """The uncompressed XML document."""
    root = ET.Element("lexml", version="3")
    top, props, _ = _node(root, "GROUP", "root", "GrooveBridge", (0, 0, PAGE_W, PAGE_H + TAB_H), _COLORS["page"])
    ET.SubElement(top, "messages")
    pager, pprops, pvalues = _node(ET.SubElement(top, "children"), "PAGER", "pager", "pages",
                                   (0, 0, PAGE_W, PAGE_H + TAB_H), _COLORS["page"])
    _prop(pprops, "b", "tabLabels", True)
    _prop(pprops, "b", "tabbar", True)
    _prop(pprops, "i", "tabbarSize", TAB_H)
    _value(pvalues, "page", "0")
    ET.SubElement(pager, "messages")
    pages_el = ET.SubElement(pager, "children")
    for page in pages:
        node, gprops, _ = _node(pages_el, "GROUP", "page/" + page.name, page.name,
                                (0, TAB_H, PAGE_W, PAGE_H), _COLORS["page"])
        _prop(gprops, "s", "tabLabel", page.name)
        ET.SubElement(node, "messages")
        children = ET.SubElement(node, "children")
        for k, control in enumerate(page.controls):
            _control(children, page.name, k, control)
    return b"<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def touchosc_bytes(pages: list[Page]) -> bytes:
    """The ``.tosc`` file: the XML, zlib-compressed (deterministic for the same layout)."""
    return zlib.compress(touchosc_xml(pages), 9)


def read_tosc(data: bytes) -> ET.Element:
    """Decompress and parse a ``.tosc`` file (``zlib.error`` / ``ET.ParseError`` when broken)."""
    return ET.fromstring(zlib.decompress(data))
