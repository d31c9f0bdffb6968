"""Widgets of the desktop app: each a view over engine state that emits commands."""
