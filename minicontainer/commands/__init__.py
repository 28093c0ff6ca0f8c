"""One module per topic, each with `register(subparsers)`; see minicontainer/cli.py."""
