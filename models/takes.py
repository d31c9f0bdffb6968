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
import torch

from models.generate import GrooveModel
from models.groove import Groove
from models.net.transforms import encoder_inputs


def humanize_takes(model: GrooveModel, groove: Groove, n: int, spread: float, seed: int | None) -> list[Groove]:
    """``n`` performances of ``groove``'s hits (a whole number of the model's windows)."""
    if groove.num_steps == 0 or groove.num_steps % model.num_steps:
        raise ValueError(f"groove has {groove.num_steps} steps, not a multiple of the model's {model.num_steps}")
    if spread < 0:
        raise ValueError(f"spread {spread} must be >= 0")
    if not model.config.humanize:  # a plain model: flat, quantised input as humanize does
        groove = groove.with_changes(velocities=np.zeros_like(groove.velocities), offsets=np.zeros_like(groove.offsets))
    bars = model.config.num_bars
    windows = [groove.window(i * bars, bars) for i in range(groove.num_steps // model.num_steps)]
    with model._lock, torch.inference_mode():
        x, _ = encoder_inputs(model.config, model._windows(windows), training=False)
        mu, sigma = (t.cpu().numpy() for t in model.fast.encode(x))
    rng = np.random.default_rng(seed)
    ctl = windows if model.config.hits_as_controls else None
    takes = []
    for i in range(n):
        z = mu if i == 0 or spread == 0 else mu + spread * sigma * rng.standard_normal(mu.shape).astype(np.float32)
        outs = model.decode(z, 0.0, None, groove.bpm, ctl, keep_hits=windows)
        takes.append(Groove.from_tensor(np.concatenate([o.to_tensor() for o in outs], axis=0), groove.bpm))
    return takes
