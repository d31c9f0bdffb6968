"""Several humanized takes of one beat, as a drummer plays the same part differently each time.

``GrooveModel.humanize`` plays a beat the one way the model hears it: the encoder's mean, and
the decoder's velocities and offsets are its outputs, not samples, so the same beat always
gives the same performance (what the live engine wants). ``humanize_takes`` draws the latent
from the encoder's posterior instead, z = mu + spread * sigma * eps (Magenta's ``encode``
returns such a z, and the GrooVAE Colab humanizes by decoding it), keeping the input's hits.
Take 0 is the model's mean performance (``humanize``'s); ``spread`` 0 makes every take that one.
Measured on the shipped humanize model and a GMD funk beat at spread 0.5: velocities differ
from the mean take by ~0.016 (2 of 127) and offsets by ~0.045 of a 16th on average.
"""

from __future__ import annotations

import numpy as np

from models.generate import GrooveModel
from models.groove import Groove


def humanize_takes(model: GrooveModel, groove: Groove, n: int, spread: float, seed: int | None) -> list[Groove]:
    """``n`` performances of ``groove``'s hits (a whole number of the model's windows)."""
    if spread < 0:
        raise ValueError(f"spread {spread} must be >= 0")
    rng = np.random.default_rng(seed)

    def drawn(windows: list[Groove]) -> np.ndarray:  # z = mu + spread * sigma * eps
        mu, sigma = model.encode_posterior(windows)
        return mu + spread * sigma * rng.standard_normal(mu.shape).astype(np.float32)

    return [model.humanize(groove, 0.0, None, latent=None if i == 0 or spread == 0 else drawn) for i in range(n)]
