"""``python -m tunewiz`` runs the command line."""
from tunewiz.cli import main

raise SystemExit(main())
