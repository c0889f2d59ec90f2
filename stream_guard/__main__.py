"""`python -m stream_guard`: the same command line as `stream-guard`."""
from stream_guard.cli.main import main

raise SystemExit(main())
