"""The PyQt6 desktop app: a thin view over the bridge engine."""
