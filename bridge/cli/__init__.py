"""The bridge subcommands: ``groovebridge serve`` (``serve``) and ``groovebridge ports`` (``ports``)."""
