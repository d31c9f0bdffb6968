"""One module per `groovebridge` subcommand (argument parsing and one-line errors on top of the API)."""
