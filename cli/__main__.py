"""`python -m cli`: the same as the `seal-rag` command."""
from cli.main import app

app()
