from course_api.cli import main

raise SystemExit(main())
