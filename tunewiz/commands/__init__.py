"""One module per ``tunewiz`` subcommand (see ``tunewiz.cli.COMMANDS``).

Each module provides ``add_arguments(parser, name)`` and ``run(args) -> int``;
user mistakes raise ``tunewiz.errors.TunewizError``.
"""
