"""The prompt: numbered passages the answer can cite as [n], recent turns, then the question."""
from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from knowledge_base.store import Passage
from rag_app.reply import ABSTENTION

# Replies are spoken: short, and a plain abstention the evaluation can recognise (rag_app.reply).
SYSTEM = (
    "You answer questions using only the numbered passages below. Cite the passages you use as [1], [2]. "
    f"If the passages do not contain the answer, reply exactly: {ABSTENTION} "
    "Answer in one or two short sentences.\n\n"
    "Passages:\n{passages}"
)

PROMPT = ChatPromptTemplate.from_messages(
    [("system", SYSTEM), MessagesPlaceholder("history"), ("human", "{question}")]
)

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def format_passages(passages: list[Passage]) -> str:
    """Passages as they are: what the LLM reads of each is cut before (rag_app.focus)."""
    return "\n".join(f"[{n}] {p.text}" for n, p in enumerate(passages, 1)) or "(no passages found)"


def build_messages(question: str, passages: list[Passage], history: list[tuple[str, str]] | None = None,
                   max_turns: int = 3) -> list[dict[str, str]]:
    """OpenAI-style messages; history is (question, answer) pairs, the most recent `max_turns` kept."""
    past: list[BaseMessage] = []
    for asked, answered in (history or [])[-max_turns:]:
        past += [HumanMessage(asked), AIMessage(answered)]
    value = PROMPT.invoke({"passages": format_passages(passages), "history": past, "question": question})
    return [{"role": _ROLES[m.type], "content": str(m.content)} for m in value.to_messages()]
