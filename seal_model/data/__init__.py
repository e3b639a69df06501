"""Training and evaluation data: questions and passages from the bigbench sdist, synthesized
speech in many voices, and the on-disk cache of trimmed Whisper encoder features."""
