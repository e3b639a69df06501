"""The SEAL speech-text embedding model and the base-model tooling it stands on.

Never imports the application (`rag_app`): everything here takes explicit paths and devices.
"""
from pathlib import Path

# The checkpoint the app ships with: package data, found beside the code when installed too.
SHIPPED_CHECKPOINT = Path(__file__).parent / "checkpoints" / "default"
