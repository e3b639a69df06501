"""Documents -> chunks -> the Chroma store, searched with the SEAL text tower's vectors.

The sample knowledge base ships inside the package (declared as package data), so an installed
`seal-rag` finds it without a source checkout."""
from pathlib import Path

SAMPLE_KB = Path(__file__).parent / "sample"  # 300 Wikipedia passages, JSONL
SAMPLE_QUESTIONS = Path(__file__).parent / "sample_questions.jsonl"  # questions about them, with gold ids
