"""Commands of this group are registered here by `add_parsers`."""


def add_parsers(sub) -> None:
    """Add this group's subcommands to the `lstm` parser."""
