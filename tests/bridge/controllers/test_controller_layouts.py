"""The TouchOSC and Open Stage Control layouts: generated from the OSC table, complete, loadable,
committed as generated, and speaking the table's language over real UDP (sends accepted by the
OSC server, echoes arriving on the addresses the controls listen to)."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from osc_fakes import FakeEngine, P
from test_osc_udp import Receiver

from bridge.controllers import layout as layout_mod
from bridge.controllers import routes
from bridge.controllers.cli import layout_bytes
from bridge.controllers.cli import main as cli_main
from bridge.controllers.layout import PAGE_H, PAGE_W, build_layout
from bridge.controllers.open_stage import open_stage_session
from bridge.controllers.routes import Route, classify, controller_inputs, sendable
from bridge.controllers.touchosc import TAB_H, read_tosc, touchosc_bytes
from bridge.engine.snapshot import EngineSnapshot
from bridge.osc import OscServer
from bridge.osc.echo import EVENT_GROUPS
from models.groove import Groove

DOCS = Path(__file__).resolve().parents[3] / "docs" / "controllers"
TOSC = DOCS / "groovebridge.tosc"
OSC_JSON = DOCS / "groovebridge-open-stage-control.json"
REGENERATE = ("regenerate: groovebridge controller-layout --format touchosc --output docs/controllers/groovebridge.tosc; "
              "groovebridge controller-layout --format open-stage-control --output "
              "docs/controllers/groovebridge-open-stage-control.json")


# ---- reading the two formats back ---------------------------------------------------------------
def _partials(el: ET.Element) -> list[dict[str, str]]:
    return [{c.tag: (c.text or "") for c in p} for p in el.findall("partial")]


def tosc_messages(root: ET.Element) -> list[dict[str, Any]]:
    """Every OSC message of a TouchOSC document with its node's type and its flags."""
    out = []
    for node in root.iter("node"):
        for m in node.findall("messages/osc"):
            path = _partials(m.find("path"))
            out.append({"node": node.get("type"), "address": "".join(p["value"] for p in path),
                        "send": m.findtext("send") == "1", "receive": m.findtext("receive") == "1",
                        "trigger": (m.findtext("triggers/trigger/var"), m.findtext("triggers/trigger/condition")),
                        "args": _partials(m.find("arguments")), "connections": m.findtext("connections")})
    return out


def _value_of(p: dict[str, str], x: float) -> Any:
    if p["type"] == "CONSTANT":
        raw: Any = p["value"]
    else:
        lo, hi = float(p["scaleMin"]), float(p["scaleMax"])
        raw = lo + x * (hi - lo)
    return {"INTEGER": lambda v: int(round(float(v))), "FLOAT": float, "STRING": str}[p["conversion"]](raw)


def tosc_sends(root: ET.Element) -> list[tuple[str, list[Any]]]:
    """What each sending control sends: a button pressed (x = 1), a fader half way, a radio's
    second option (TouchOSC: value = scaleMin + x * (scaleMax - scaleMin); a radio's x is its
    index)."""
    sends = []
    for m in tosc_messages(root):
        if m["send"]:
            x = {"BUTTON": 1.0, "RADIO": 1}.get(m["node"], 0.5)
            sends.append((m["address"], [_value_of(p, x) for p in m["args"]]))
    return sends


def osc_widgets(session: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for tab in session["content"]["tabs"] for w in tab["widgets"]]


def osc_sends(session: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    sends = []
    for w in osc_widgets(session):
        if not w.get("interaction"):
            continue
        integer = w.get("typeTags") == "i"
        if w["type"] == "button":
            sends.append((w["address"], [*w.get("preArgs", []), w["on"]]))
        elif w["type"] == "fader":
            v = (w["range"]["min"] + w["range"]["max"]) / 2
            sends.append((w["address"], [int(round(v)) if integer else float(v)]))
        elif w["type"] == "switch":
            values = list(w["values"].values())
            sends.append((w["address"], [values[len(values) // 2]]))
    return sends


# ---- the table side ------------------------------------------------------------------------------
def test_sendable_and_classified_from_the_argument_spec():
    r = lambda args, rng="", echo="": Route("/x", args, rng, "", echo, lambda c, a: None)  # noqa: E731
    assert sendable(r("[f press]")) and sendable(r("")) and sendable(r("f bpm")) and sendable(r("s name | i index"))
    assert sendable(r("s source | [f press]")) and sendable(r("[i reply port]"))
    assert not sendable(r("s name")) and not sendable(r("s|i instrument, i|f on"))
    assert not sendable(r("s slot [s last|next] [i count-in bars]"))
    assert classify(r("f", "(0, 5]")).lo == pytest.approx(0.05)
    assert (classify(r("f", "0-1 = 40-240 BPM")).lo, classify(r("f", "0-1 = 40-240 BPM")).hi) == (0.0, 1.0)
    assert (classify(r("f ms", "-500..500")).lo, classify(r("f ms", "-500..500")).hi) == (-500.0, 500.0)
    assert classify(r("s name | i index", "internal midi link / 0 1 2")).options == ("internal", "midi", "link")
    assert classify(r("i bars", "1 2 4")).kind == "values"
    assert classify(r("[i|f on]", "0/1; no argument toggles")).kind == "switch"
    assert classify(r("[i reply port]", echo="replies to the sender")).kind == "query"
    inputs = controller_inputs()
    assert P + "/save" not in inputs and P + "/model" not in inputs and P + "/tempo/norm" in inputs


def test_a_row_added_to_the_table_appears_on_both_layouts(monkeypatch):
    extra = (Route("/sync/health", "[i reply port]", "", "sync health", "replies to the sender", lambda c, a: None),
             Route("/nudge", "f beats", "-0.5..0.5", "nudge the phase", "/nudge", lambda c, a: None))
    monkeypatch.setattr(routes, "ROUTES", routes.ROUTES + extra)
    pages = build_layout()
    assert {P + "/sync/health", P + "/nudge"} <= layout_mod.sent_addresses(pages)
    nudge = next(c for p in pages for c in p.controls if c.send == P + "/nudge")
    assert (nudge.kind, nudge.lo, nudge.hi) == ("fader", -0.5, 0.5)
    assert P + "/sync/health" in {a for a, _ in tosc_sends(read_tosc(touchosc_bytes(pages)))}
    assert P + "/nudge" in {a for a, _ in osc_sends(open_stage_session(pages))}


# ---- the files -------------------------------------------------------------------------------------
def test_committed_files_are_what_the_command_generates_now(tmp_path):
    assert TOSC.read_bytes() == layout_bytes("touchosc"), REGENERATE
    assert OSC_JSON.read_bytes() == layout_bytes("open-stage-control"), REGENERATE
    out = tmp_path / "sub" / "g.tosc"
    assert cli_main(["--format", "touchosc", "--output", str(out)]) == 0
    assert out.read_bytes() == TOSC.read_bytes()


def test_every_sendable_address_is_on_both_committed_layouts():
    wanted = set(controller_inputs())
    assert len(wanted) > 60
    on_tosc = {a for a, _ in tosc_sends(read_tosc(TOSC.read_bytes()))}
    on_osc = {a for a, _ in osc_sends(json.loads(OSC_JSON.read_text()))}
    assert wanted - on_tosc == set(), REGENERATE
    assert wanted - on_osc == set(), REGENERATE
    for needed in ("/play", "/tempo/norm", "/sync", "/sample", "/temperature/norm", "/variation", "/capture/a",
                   "/capture/b", "/interpolate", "/humanize", "/reconstruct", "/mute/kick", "/drumify", "/follow",
                   "/attribute/swing/norm"):
        assert P + needed in on_tosc and P + needed in on_osc


@pytest.mark.parametrize("source", ["committed", "generated"])
def test_touchosc_file_loads_as_a_touchosc_document(source):
    root = read_tosc(TOSC.read_bytes() if source == "committed" else layout_bytes("touchosc"))  # zlib + XML
    assert root.tag == "lexml" and root.get("version") == "3"
    (top,) = root.findall("node")
    assert top.get("type") == "GROUP"
    (pager,) = top.findall("children/node")
    assert pager.get("type") == "PAGER"
    pages = pager.findall("children/node")
    assert [p.findtext("properties/property[key='tabLabel']/value") for p in pages] == [
        p.name for p in build_layout()]
    ids = [n.get("ID") for n in root.iter("node")]
    assert len(ids) == len(set(ids)) > 100
    for node in root.iter("node"):
        assert node.get("type") in {"GROUP", "PAGER", "BUTTON", "FADER", "RADIO", "LABEL"}
        assert {"properties", "values"} <= {c.tag for c in node}
        frame = node.find("properties/property[key='frame']/value")
        x, y, w, h = (int(frame.findtext(k)) for k in "xywh")
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= PAGE_W and y + h <= PAGE_H + TAB_H
    for m in tosc_messages(root):
        assert m["address"].startswith(P + "/") and m["connections"] == "0000000001"
        assert m["send"] or m["receive"]
    radios = [n for n in root.iter("node") if n.get("type") == "RADIO"]
    assert len(radios) >= 4
    for node in radios:  # option k sends k (a radio's x is its index; TouchOSC scales min + x * (max - min))
        steps = int(node.findtext("properties/property[key='steps']/value"))
        for m in node.findall("messages/osc"):
            (arg,) = _partials(m.find("arguments"))
            assert [_value_of(arg, k) for k in range(steps)] == list(range(steps))


@pytest.mark.parametrize("source", ["committed", "generated"])
def test_open_stage_session_loads_with_a_widget_tree(source):
    session = json.loads(OSC_JSON.read_text() if source == "committed" else layout_bytes("open-stage-control"))
    assert session["type"] == "session" and session["createdWith"] == "Open Stage Control"
    root = session["content"]
    assert root["type"] == "root" and [t["label"] for t in root["tabs"]] == [p.name for p in build_layout()]
    widgets = osc_widgets(session)
    assert len({w["id"] for w in widgets}) == len(widgets) > 100
    for w in widgets:
        assert w["type"] in {"button", "fader", "switch", "text"}
        assert w["left"] >= 0 and w["top"] >= 0 and w["left"] + w["width"] <= PAGE_W and w["top"] + w["height"] <= PAGE_H
        assert w["address"].startswith("/")
    humanize = next(w for w in widgets if w["address"] == P + "/humanize")
    assert humanize["bypass"] and humanize["onTouch"] == "if (event.type === 'stop') send('" + P + "/humanize', value)"


# ---- over real UDP ---------------------------------------------------------------------------------
@pytest.fixture
def server():
    engine = FakeEngine(EngineSnapshot(variations=tuple(Groove.empty() for _ in range(16)), selected_variation=0))
    rx = Receiver()
    srv = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", rx.port)
    srv.start()
    yield engine, srv, rx
    srv.close()
    rx.close()


@pytest.mark.parametrize("fmt", ["touchosc", "open-stage-control"])
def test_every_message_a_layout_sends_is_accepted(server, fmt):
    """Each control's message (a button pressed, a fader half way) sent over UDP makes the
    engine act, or (queries) is answered at the reply port the layout names; none is refused."""
    engine, srv, rx = server
    pages = build_layout(reply_port=rx.port)
    sends = (tosc_sends(read_tosc(touchosc_bytes(pages))) if fmt == "touchosc"
             else osc_sends(open_stage_session(pages)))
    assert len(sends) >= len(controller_inputs())
    port = srv.address[1]
    for address, args in sends:
        calls, replies = len(engine.calls), len(rx.messages)
        rx.send(port, address, *args)
        deadline = time.monotonic() + 2.0
        while len(engine.calls) == calls and len(rx.messages) == replies and time.monotonic() < deadline:
            time.sleep(0.002)
        assert len(engine.calls) > calls or len(rx.messages) > replies, f"{address} {args} did nothing"
    assert srv.control.rejected == 0


def test_controls_listen_where_the_engine_echoes(server):
    """Every address a TouchOSC control or display receives on is echoed by the engine, value
    controls with a number (so the faders move when the app moves them)."""
    engine, srv, rx = server
    engine.snap = EngineSnapshot(bpm=140.0, playing=True, temperature=1.5, mutes=(True,) + (False,) * 8,
                                 interpolation=0.25, follow=True, follow_every=2)
    for event in EVENT_GROUPS:
        engine.emit(event, None)
    root = read_tosc(touchosc_bytes(build_layout()))
    receives = [m for m in tosc_messages(root) if m["receive"]]
    assert len(receives) > 30
    for m in receives:
        args = rx.wait_for(m["address"])
        if m["node"] != "LABEL":
            assert args and isinstance(args[0], (int, float)), (m["address"], args)
    assert rx.wait_for(P + "/tempo/norm") == [pytest.approx(0.5)]
    assert rx.wait_for(P + "/mute/kick") == [1]
    session = open_stage_session(build_layout())
    listening = {w["address"] for w in osc_widgets(session) if w["type"] != "text"}
    assert {P + "/tempo/norm", P + "/sync", P + "/mute/kick", P + "/interpolate", P + "/follow"} <= listening
    assert rx.wait_for(P + "/sync") == ["internal"]  # the Open Stage radio sends and hears the names


def test_preview_images_draw_every_page_and_its_controls(qapp):
    """The docs' preview: every page drawn at its place, controls in their kind's colour."""
    from PyQt6.QtGui import QColor

    from gui.controller_preview import STYLES, render_layout
    from gui.controller_preview import TAB_H as PREVIEW_TAB_H

    pages = build_layout()
    image = render_layout("touchosc", pages, scale=1.0)
    rows = (len(pages) + 1) // 2
    assert (image.width(), image.height()) == (2 * PAGE_W, rows * (PREVIEW_TAB_H + PAGE_H))
    for i, page in enumerate(pages):
        x0, y0 = (i % 2) * PAGE_W, (i // 2) * (PREVIEW_TAB_H + PAGE_H) + PREVIEW_TAB_H
        for c in page.controls:
            if c.kind in ("fader", "button", "toggle"):
                x, y, w, h = c.rect
                edge = image.pixelColor(x0 + x + w // 2, y0 + y + 1)  # the outline, away from the caption
                assert edge != QColor(STYLES["touchosc"]["page"]), (page.name, c.label)
        blank = image.pixelColor(x0 + PAGE_W - 2, y0 + PAGE_H - 2)
        assert blank == QColor(STYLES["touchosc"]["page"]), page.name
