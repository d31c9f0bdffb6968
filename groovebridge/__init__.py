"""GrooveBridge: AI drum grooves (GrooVAE) played live into any DAW."""

__version__ = "0.1.0"
