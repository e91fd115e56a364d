"""The offline model's rules: how it triages, plans and writes, without a language model.

Triage (in order):
1. Nothing but punctuation or symbols: not a task; ask what the user needs.
2. Only small-talk words (hello, thanks, bye, how are you, good morning, ...): not a task; a
   matching canned reply.
3. A question about the conversation itself ("what did I ask?", "what did you say?", "repeat
   that"): not a task; the reply quotes the earlier message from the conversation.
4. Anything else is a task.

Planning: a comparison ("compare A and B", "A vs B", "difference between A and B") becomes
search A, search B, compare, summarise; several questions become one search each (at most seven)
and a summary; anything else becomes one search and a summary.

Writing: a search step lists what the search returned, with links; a compare step puts the top
results of each search side by side; a summary keeps the best results of all searches; the
answer is the last step's text followed by the numbered sources.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from shared.agents.types import MAX_PLAN_STEPS, one_line

_SMALL_TALK = """
hi hello hey hiya yo howdy greetings good morning afternoon evening night day thanks thank you
thx ty cheers bye goodbye see later cya farewell how are doing ok okay cool great nice awesome
jarvis there all much very so lot a fine well
"""
SMALL_TALK_WORDS = frozenset(_SMALL_TALK.split())
_THANKS = {"thanks", "thank", "thx", "ty", "cheers"}
_BYES = {"bye", "goodbye", "later", "cya", "farewell", "night"}

_ABOUT_CONVERSATION = re.compile(
    r"\b(what (did|was) (i|you) (just )?(ask|say|write|tell)|what was my (last |previous )?"
    r"(question|message)|what did you (just )?(answer|reply)|repeat (that|your (last )?"
    r"(answer|reply|message)|my (last )?question))\b"
)
_ASKS_ABOUT_ASSISTANT = re.compile(r"\b(you|your) (just )?(say|said|answer|reply|message)")

_COMPARE = (
    re.compile(r"\bcompare\s+(?P<a>.+?)\s+(?:and|with|to|against|vs\.?|versus)\s+(?P<b>.+)", re.I),
    re.compile(r"\bdifferences? between\s+(?P<a>.+?)\s+and\s+(?P<b>.+)", re.I),
    re.compile(r"^(?:\w+\s+)*?(?P<a>.+?)\s+(?:vs\.?|versus)\s+(?P<b>.+)", re.I),
)
_FILLER = re.compile(
    r"^(?:(?:please|pls|hey jarvis|jarvis|can you|could you|would you|will you|i want to know|"
    r"i'd like to know|tell me about|tell me|search for|search|look up|find out|find|explain|"
    r"show me|give me|what is|what are|what's|what does|who is|how do i|how do|how can i|"
    r"how to|how does|about)[\s,]+)+",
    re.I,
)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def triage(message: str, history: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Triage fields for `message`; `history` is the earlier (role, text) pairs, oldest first."""
    words = _words(message)
    if not re.search(r"\w", message):
        return _not_task("the message has no words", "Could you tell me what you need?")
    if words and all(word in SMALL_TALK_WORDS for word in words):
        if _THANKS & set(words):
            reply = "You're welcome! Ask me anything else you need researched."
        elif _BYES & set(words):
            reply = "Goodbye! I'm here whenever you need something looked up."
        elif "how" in words:
            reply = "I'm running fine, thank you. What can I look up for you?"
        else:
            reply = "Hello! I'm Jarvis. Ask me to research something and I'll plan and do it."
        return _not_task("greeting or small talk", reply)
    lowered = " ".join(words)
    if _ABOUT_CONVERSATION.search(lowered):
        wanted = "assistant" if _ASKS_ABOUT_ASSISTANT.search(lowered) else "user"
        earlier = [text for role, text in history if role == wanted]
        if not earlier:
            reply = "We haven't talked about anything before this message in this chat."
        elif wanted == "user":
            reply = f"Your previous message was:\n\n> {one_line(earlier[-1], 1000)}"
        else:
            reply = f"My previous answer was:\n\n> {one_line(earlier[-1], 1000)}"
        return _not_task("a question about the conversation so far", reply)
    return {
        "actionable": True,
        "reason": f"asks for information: {one_line(message, 120)}",
        "reply": None,
    }


def _not_task(reason: str, reply: str) -> dict[str, Any]:
    return {"actionable": False, "reason": reason, "reply": reply}


def search_query(text: str) -> str:
    """A search query from a request: without polite filler and trailing punctuation."""
    query = _FILLER.sub("", " ".join(text.split())).strip(" ?!.,;:")
    return query or text.strip(" ?!.,;:")


def _search_step(query: str) -> dict[str, Any]:
    return {
        "title": f"Search for {one_line(query, 80)}",
        "action": f"Search for: {query}",
        "tool": "web_search",
        "expected_output": "The relevant results, with titles, links and snippets",
    }


def _summary_step() -> dict[str, Any]:
    return {
        "title": "Summarise the findings",
        "action": "Summarise what the searches found, citing the sources",
        "tool": None,
        "expected_output": "A short Markdown summary with links to the sources",
    }


def plan(message: str) -> dict[str, Any]:
    """TaskPlan fields for `message`."""
    text = " ".join(message.split())
    goal = one_line(text, 200)
    for pattern in _COMPARE:
        if match := pattern.search(text):
            a, b = search_query(match["a"]), search_query(match["b"])
            if a and b:
                compare = {
                    "title": f"Compare {one_line(a, 40)} and {one_line(b, 40)}",
                    "action": f"Compare what the searches found about {a} and {b}",
                    "tool": None,
                    "expected_output": "The similarities and differences, with sources",
                }
                return {
                    "goal": goal,
                    "steps": [_search_step(a), _search_step(b), compare, _summary_step()],
                }
    questions = [q for q in re.split(r"(?<=\?)\s+", text) if q.strip(" ?")]
    queries = [search_query(q) for q in questions[: MAX_PLAN_STEPS - 1]] or [search_query(text)]
    return {"goal": goal, "steps": [*(_search_step(q) for q in queries), _summary_step()]}


def query_from_action(action: str, fallback: str) -> str:
    """The query a planned search step names ("Search for: X"), else one made from `fallback`."""
    match = re.search(r"search for:\s*(.+)$", action, re.I)
    return match[1].strip() if match else search_query(fallback)


def search_step_output(query: str, payload: Any, failure: str | None) -> dict[str, Any]:
    """StepReport fields from what web_search returned (its payload, or its failure message)."""
    if failure is not None:
        return {"output": f"The search for “{query}” failed: {failure}", "sources": []}
    results = payload.get("results", []) if isinstance(payload, dict) else []
    if not results:
        return {"output": f"The search for “{query}” found nothing.", "sources": []}
    lines = [f"Search results for “{query}”:", ""]
    for number, result in enumerate(results, 1):
        lines.append(f"{number}. [{result['title']}]({result['url']}): {result['snippet']}")
    sources = [{"title": r["title"], "url": r["url"]} for r in results]
    return {"output": "\n".join(lines), "sources": sources}


def _result_lines(results: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(url, line) of every listed search result in earlier step outputs."""
    found = []
    for result in results:
        for line in str(result.get("output", "")).splitlines():
            if match := re.match(r"^\d+\. (\[.+?\]\((?P<url>[^)]*)\).*)$", line):
                found.append((match["url"], match[1]))
    return found


def _sources(results: Sequence[dict[str, Any]], urls: set[str] | None = None) -> list[dict]:
    seen: dict[str, dict[str, Any]] = {}
    for result in results:
        for source in result.get("sources", []):
            if source.get("url") and (urls is None or source["url"] in urls):
                seen.setdefault(source["url"], {"title": source["title"], "url": source["url"]})
    return list(seen.values())


def compare_step_output(title: str, earlier: Sequence[dict[str, Any]]) -> dict[str, Any]:
    lines, urls = [f"{title}:", ""], set()
    for result in earlier:
        top = _result_lines([result])[:2]
        if not top:
            continue
        lines.append(f"- **{result.get('title', 'A search')}**:")
        for url, line in top:
            lines.append(f"  - {line}")
            urls.add(url)
    if not urls:
        return {"output": "There is nothing to compare: the searches found nothing.", "sources": []}
    return {"output": "\n".join(lines), "sources": _sources(earlier, urls)}


def summary_step_output(earlier: Sequence[dict[str, Any]], limit: int = 6) -> dict[str, Any]:
    best: dict[str, str] = {}
    for url, line in _result_lines(earlier):
        best.setdefault(url, line)
    if not best:
        return {"output": "The searches found nothing relevant.", "sources": []}
    picked = list(best.items())[:limit]
    lines = ["What the searches found:", "", *(f"- {line}" for _, line in picked)]
    return {"output": "\n".join(lines), "sources": _sources(earlier, {url for url, _ in picked})}


def answer(goal: str, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """ExecutionResult fields: the last step's text, then the numbered sources."""
    sources = _sources(results)
    body = str(results[-1].get("output", "")) if results else "Nothing was done."
    lines = [f"## {goal}", "", body, ""]
    if sources:
        lines += ["**Sources**", ""]
        lines += [f"{n}. [{s['title']}]({s['url']})" for n, s in enumerate(sources, 1)]
        lines.append("")
    lines.append("_Written by the offline model from the search results; no language model._")
    return {"answer": "\n".join(lines), "sources": sources}
