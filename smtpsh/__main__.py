from smtpsh.cli import main

raise SystemExit(main())
