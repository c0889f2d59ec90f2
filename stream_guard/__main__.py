from stream_guard.cli import main

raise SystemExit(main())
