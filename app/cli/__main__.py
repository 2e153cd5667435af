"""`python -m app.cli ...` (what `make run` uses)."""

from app.cli import main

main()
