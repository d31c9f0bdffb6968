"""Temporary alias (issue 24): ``bridge.osc_wire`` moved to ``bridge.osc.wire``.

Kept only for the files of helpers still at work when bridge/ went into floors (the clock,
preview and render modules and their tests); the lead deletes it when those move into clock/ and
audio/. New code imports ``bridge.osc.wire``.
"""

from bridge.osc.wire import *  # noqa: F401,F403
