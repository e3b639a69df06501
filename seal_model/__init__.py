"""The SEAL speech-text embedding model and the base-model tooling it stands on.

Never imports the application (`rag_app`): everything here takes explicit paths and devices.
"""
