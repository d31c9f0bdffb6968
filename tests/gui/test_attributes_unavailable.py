"""The Feel panel with a model that has no attribute directions (the shared tiny test model)."""

from __future__ import annotations


def test_panel_disabled_with_the_reason_for_a_model_without_directions(window):
    """The shared window fixture runs a tiny random model: no fitted prior, no directions."""
    panel = window.attributes
    snap = window.adapter.engine.snapshot()
    assert snap.model_state == "ready" and not snap.attributes_available
    assert not panel.pad.isEnabled() and not panel.reset_button.isEnabled()
    assert not any(s.isEnabled() for s in panel.sliders.values())
    for w in [panel.pad, panel.reset_button, *panel.sliders.values()]:
        assert "no attribute directions" in w.toolTip() and "fit-prior" in w.toolTip()
    assert "unavailable" in panel.toolTip()
