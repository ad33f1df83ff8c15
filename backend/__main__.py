"""Entry point for ``python -m backend``."""

from backend.cli import main

raise SystemExit(main())
