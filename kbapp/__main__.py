from kbapp.main import main

raise SystemExit(main())
