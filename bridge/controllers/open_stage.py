"""The layout as an Open Stage Control session (JSON, the ``"type": "session"`` file of
Open Stage Control 1.x): a root whose tabs are the pages, widgets placed absolutely.

* A widget's ``address`` both sends and receives, so a control follows the engine's echo of
  its own address. Radios whose address takes and echoes names (``/sync``,
  ``/capture/input_mode``, ``/follow/source``) send the names, so their echo selects them.
* Momentary buttons are ``push`` (1 on press, 0 on release: the table ignores the release);
  buttons that send constants (``/follow/every 2``, a query's reply port) are ``tap``.
* The humanize fader does not send while it moves (``bypass``); its ``onTouch`` script sends
  ``/groovebridge/humanize <amount>`` when the finger lifts (``event.type`` "stop"; ``send``
  ignores ``bypass``).
* Where the messages go is the Open Stage Control server's setting (``send`` =
  ``<GrooveBridge host>:9000``, ``port`` = 9001), not the session's.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bridge.controllers.layout import Control, Page

OSC_VERSION = "1.26.2"  # the Open Stage Control release whose session format this follows
_COLORS = {"button": "#338cf2", "toggle": "#f28c26", "fader": "#40cc8c", "radio": "#a673f2",
           "display": "auto", "title": "auto"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _base(c: Control, wid: str, wtype: str) -> dict[str, Any]:
    x, y, w, h = c.rect
    return {"type": wtype, "id": wid, "left": x, "top": y, "width": w, "height": h,
            "colorWidget": _COLORS.get(c.kind, "auto"), "interaction": bool(c.send)}


def _widgets(page: Page) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for k, c in enumerate(page.controls):
        wid = f"{_slug(page.name)}_{k}_{_slug(c.label)}"
        address = c.send or c.receive
        if c.kind == "title":
            out.append({**_base(c, wid, "text"), "value": c.label, "default": c.label,
                        "address": "/" + wid, "bypass": True, "css": "font-size:130%;"})
        elif c.kind == "display":
            x, y, w, h = c.rect
            out.append({**_base(c, wid + "_caption", "text"), "height": h // 3, "value": c.label,
                        "default": c.label, "address": "/" + wid + "_caption", "bypass": True})
            out.append({**_base(c, wid, "text"), "top": y + h // 3, "height": h - h // 3, "value": "-",
                        "default": "-", "address": c.receive, "bypass": True})
        elif c.kind in ("button", "toggle"):
            widget = {**_base(c, wid, "button"), "label": c.label, "address": address,
                 "on": 1, "off": 0, "typeTags": "i" if c.integer else "f",
                 "mode": "toggle" if c.kind == "toggle" else "push"}
            if c.constant:
                widget.update(mode="tap", on=c.constant[-1], typeTags="i" if isinstance(c.constant[-1], int) else "f")
                if len(c.constant) > 1:
                    widget["preArgs"] = list(c.constant[:-1])
            out.append(widget)
        elif c.kind == "fader":
            widget = {**_base(c, wid, "fader"), "address": address, "horizontal": not c.vertical,
                 "range": {"min": c.lo, "max": c.hi}, "html": f"<div class=\"label\">{c.label}</div>",
                 "decimals": 0 if c.integer else 2, "typeTags": "i" if c.integer else "f",
                 "value": c.lo, "default": c.lo}
            if c.integer:
                widget["steps"] = int(c.hi - c.lo) + 1
            if c.on_release:
                widget.update(bypass=True, onTouch=f"if (event.type === 'stop') send('{c.send}', value)")
            out.append(widget)
        elif c.kind == "radio":
            # a numeric label needs a space beside it, or Open Stage Control reorders the values
            labels = [o + " " if o.isdigit() else o for o in c.options]
            values = ({lab: o for lab, o in zip(labels, c.options, strict=True)} if c.names_echo
                      else {lab: i for i, lab in enumerate(labels)})
            out.append({**_base(c, wid, "switch"), "address": address, "horizontal": True, "layout": "horizontal",
                        "values": values, "typeTags": "" if c.names_echo else "i",
                        "html": "", "label": c.label})
        else:
            raise ValueError(f"unknown control kind {c.kind!r}")
    return out


def open_stage_session(pages: list[Page]) -> dict[str, Any]:
    tabs = [{"type": "tab", "id": "tab_" + _slug(p.name), "label": p.name, "widgets": _widgets(p), "tabs": []}
            for p in pages]
    return {"createdWith": "Open Stage Control", "version": OSC_VERSION, "type": "session",
            "content": {"type": "root", "id": "root", "label": "GrooveBridge", "widgets": [], "tabs": tabs}}


def open_stage_bytes(pages: list[Page]) -> bytes:
    return (json.dumps(open_stage_session(pages), indent=1, ensure_ascii=False) + "\n").encode("utf-8")
