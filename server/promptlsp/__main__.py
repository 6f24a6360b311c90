from promptlsp.cli.main import entry

raise SystemExit(entry())
