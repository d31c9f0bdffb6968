"""How every ``groovebridge`` command line parses and shows its options (the models CLIs and
bridge's serve / ports / render share it; it lives outside ``models.cli``, which nothing but the
launcher may import): no abbreviated flags, and ``--help`` shows a default only where there is
one to show."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` shows an option's default only where there is one to show: not for options
    without a value (None, "", False), nor where the help text already names its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is argparse.SUPPRESS
            or default == ""
            or default is False
            or (not action.option_strings and action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE))
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def make_parser(prog: str, description: str, **kwargs: object) -> argparse.ArgumentParser:
    """An ArgumentParser for a ``groovebridge`` subcommand. ``allow_abbrev=False``: a flag the
    command does not have is an error, never silently taken for a longer one (``--channel`` for
    ``--channels``)."""
    kwargs.setdefault("formatter_class", HelpFormatter)
    return argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False, **kwargs)  # type: ignore[arg-type]
