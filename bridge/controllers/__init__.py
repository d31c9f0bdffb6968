"""Ready-made OSC controller layouts (TouchOSC, Open Stage Control) and the Zeroconf advert.

* ``routes``: what a controller can send, read from the OSC address table
  (``bridge.osc.table.ROUTES``) at run time, and what the engine echoes (``bridge.osc.echo``);
* ``layout``: one neutral description of the pages and controls, built from those;
* ``touchosc`` / ``open_stage``: the two file formats written from that description;
* ``cli``: ``groovebridge controller-layout``; ``zeroconf_ad``: the opt-in ``_osc._udp`` advert.
"""
