"""The prompt: the instruction, recent turns, then the numbered passages (cited as [n]) and the question.

The order is for the LLM's kept attention cache (rag_app.prompt_cache, and a vLLM server's prefix
cache): what stays the same from one turn to the next comes first. The passages change every turn,
so they come last, with the question; earlier turns keep only their question and answer. The
earlier turns kept move in steps rather than one at a time, so consecutive prompts share them.
"""
from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from knowledge_base.store import Passage
from rag_app.reply import ABSTENTION

# Replies are spoken: short, and a plain abstention the evaluation can recognise (rag_app.reply).
SYSTEM = (
    "You answer questions using only the numbered passages given with each question. Cite the passages "
    f"you use as [1], [2]. If the passages do not contain the answer, reply exactly: {ABSTENTION} "
    "Answer in one or two short sentences."
)
QUESTION = "Passages:\n{passages}\n\nQuestion: {question}"

PROMPT = ChatPromptTemplate.from_messages(
    [("system", SYSTEM), MessagesPlaceholder("history"), ("human", QUESTION)]
)

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def format_passages(passages: list[Passage]) -> str:
    """Passages as they are: what the LLM reads of each is cut before (rag_app.focus)."""
    return "\n".join(f"[{n}] {p.text}" for n, p in enumerate(passages, 1)) or "(no passages found)"


def recent_turns(history: list[tuple[str, str]], max_turns: int) -> list[tuple[str, str]]:
    """The last turns, at most `max_turns`. A window sliding one turn at a time would change the
    prompt's start every turn once it is full (nothing cached could be reused); this one drops the
    oldest turns `max_turns - 1` at a time, so it keeps between max_turns - 1 and max_turns turns
    (3: 2 or 3, alternately, once full) and the kept turns stay put between drops (with 1 or 2
    it slides: every drop is of one turn)."""
    if max_turns <= 0:
        return []
    step = max(1, max_turns - 1)
    start = max(0, -(-(len(history) - max_turns) // step) * step)  # the first multiple of step that fits
    return history[start:]


def build_messages(question: str, passages: list[Passage], history: list[tuple[str, str]] | None = None,
                   max_turns: int = 3) -> list[dict[str, str]]:
    """OpenAI-style messages; history is (question, answer) pairs (`recent_turns` of them kept)."""
    past: list[BaseMessage] = []
    for asked, answered in recent_turns(history or [], max_turns):
        past += [HumanMessage(asked), AIMessage(answered)]
    value = PROMPT.invoke({"passages": format_passages(passages), "history": past, "question": question})
    return [{"role": _ROLES[m.type], "content": str(m.content)} for m in value.to_messages()]
