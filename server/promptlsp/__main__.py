from promptlsp.cli.main import main

raise SystemExit(main())
