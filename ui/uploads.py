"""How long the web app keeps what users upload: recordings, dropped files, documents for the
knowledge base. Gradio keeps uploads in its temp folder forever unless a page sets `delete_cache`."""
from __future__ import annotations


def delete_cache(max_age_s: int) -> tuple[int, int]:
    """Gradio's (check every N s, delete older than M s): files older than `max_age_s` go, checked
    at least every minute (sooner for short ages, so a 2 s age is honoured in seconds)."""
    return max(1, min(max_age_s, 60)), max_age_s
