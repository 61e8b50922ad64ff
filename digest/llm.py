"""Optional LLM polish of digest prose through an OpenAI-compatible `/v1/chat/completions`.

Off unless `[llm] endpoint` is set. A rewrite is kept only when it passes a grounding
check: every number, URL, @handle and Latin-script name in it must already occur in the
deterministic text or in the event's sources. Anything else (a rejected rewrite, an HTTP
error, a timeout, a malformed answer) keeps the deterministic text, so the digest never
depends on the model. Plain urllib: no SDK dependency for one POST.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence

from digest.model import SourceItem
from infra.config import LlmSettings
from infra.redact import mask_secrets
from schemas.digest import TopEvent

__all__ = ["LlmError", "chat_url", "grounding_violations", "polish_text", "polish_top_event", "polish_top_events"]


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would resend the Authorization header (the API key) to wherever a 30x points.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]  # noqa: ANN001
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)

log = logging.getLogger(__name__)

_URL = re.compile(r"https?://[^\s<>()\[\]{}\"'，。；）」]+", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_HANDLE = re.compile(r"@\w+")
# A "name" in Latin script: any word with a capital letter or a digit-letter mix (GPT-5, H100).
_NAME = re.compile(r"\b(?=[\w.-]*[A-Z])[A-Za-z][\w.-]*[A-Za-z0-9]|\b[A-Za-z]+\d[\w.-]*")
# Sentence-initial words and abbreviations a rewrite may capitalise without naming anyone.
_COMMON = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "but",
        "by",
        "for",
        "from",
        "however",
        "in",
        "it",
        "its",
        "no",
        "not",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "these",
        "this",
        "those",
        "to",
        "we",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "with",
        "ai",
    ]
)
_POLISHED_FIELDS = ("what_happened", "why_it_matters", "implications")


class LlmError(RuntimeError):
    """The endpoint did not give a usable answer."""


def chat_url(endpoint: str) -> str:
    """Accept a base URL, a `/v1` URL or the full completions URL."""
    base = endpoint.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def grounding_violations(rewrite: str, allowed: Iterable[str]) -> list[str]:
    """Numbers, URLs, handles and names in `rewrite` that no allowed text contains."""
    corpus = "\n".join(allowed)
    lower = corpus.lower()
    numbers = _numbers(corpus)
    bad: list[str] = []
    urls = _URL.findall(rewrite)
    for url in urls:
        if url.rstrip(".,;:!?") not in corpus:
            bad.append(url)
    rest = _URL.sub(" ", rewrite)
    for number in _NUMBER.findall(rest):
        if number.replace(",", "") not in numbers:
            bad.append(number)
    for handle in _HANDLE.findall(rest):
        if handle.lower() not in lower:
            bad.append(handle)
    for name in _NAME.findall(_HANDLE.sub(" ", rest)):
        word = name.rstrip(".-")
        if word.lower() in _COMMON or word.lower() in lower:
            continue
        bad.append(word)
    return bad


def _complete(settings: LlmSettings, system: str, user: str) -> str:
    body = json.dumps(
        {
            "model": settings.model,
            "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    if settings.api_key is not None:
        headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
    request = urllib.request.Request(chat_url(settings.endpoint or ""), data=body, headers=headers, method="POST")
    try:
        with _NO_REDIRECTS.open(request, timeout=settings.timeout_s) as response:
            answer = json.loads(response.read(1_000_000))
        content = answer["choices"][0]["message"]["content"]
    except (urllib.error.URLError, TimeoutError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        # Never log the request: it may carry the API key in its headers. The answer may
        # too: a server can echo the Authorization header in its reason phrase.
        raise LlmError(mask_secrets(f"{type(exc).__name__}: {exc}")) from None
    if not isinstance(content, str) or not content.strip():
        raise LlmError("empty completion")
    return content.strip()


def _system_prompt(lang: str) -> str:
    language = "Simplified Chinese" if lang == "zh" else "English"
    return (
        f"You edit a news digest in {language}. Rewrite the user's paragraph to read fluently. "
        "Do not add any fact, number, date, name, product or URL that is not in the paragraph or the sources. "
        "Answer with the rewritten paragraph only."
    )


def polish_text(text: str, sources: Sequence[str], settings: LlmSettings, lang: str) -> str:
    """One field: the rewrite when grounded, else `text`. Raises LlmError when the endpoint fails."""
    if not settings.endpoint or not text.strip():
        return text
    user = text + "\n\nSources:\n" + "\n---\n".join(s[:2000] for s in sources[:6])
    rewrite = _complete(settings, _system_prompt(lang), user)
    bad = grounding_violations(rewrite, [text, *sources])
    if bad:
        log.info("LLM rewrite rejected (ungrounded: %s)", ", ".join(bad[:5]))
        return text
    return rewrite


def _source_texts(event: TopEvent, items: Sequence[SourceItem]) -> list[str]:
    texts = [event.title, *event.key_facts]
    for item in items:
        texts.append(
            " ".join(
                p
                for p in (
                    item.publisher,
                    item.title,
                    item.text,
                    item.url or "",
                    item.canonical_url or "",
                    item.handle or "",
                )
                if p
            )
        )
    return texts


def polish_top_event(event: TopEvent, items: Sequence[SourceItem], settings: LlmSettings, lang: str) -> TopEvent:
    """Polish the prose fields of one Top event. Raises LlmError when the endpoint fails."""
    if not settings.endpoint:
        return event
    sources = _source_texts(event, items)
    changes = {name: polish_text(getattr(event, name), sources, settings, lang) for name in _POLISHED_FIELDS}
    return event.model_copy(update=changes)


def polish_top_events(
    events: Sequence[TopEvent], items_by_event: Mapping[str, Sequence[SourceItem]], settings: LlmSettings, lang: str
) -> list[TopEvent]:
    """Polish every Top event; on the first endpoint failure keep the deterministic text for all of them.

    Stopping at the first failure bounds the cost of a dead endpoint to one timeout, and
    all-or-nothing keeps one digest from mixing two voices.
    """
    if not settings.endpoint:
        return list(events)
    try:
        return [polish_top_event(e, items_by_event.get(e.id, []), settings, lang) for e in events]
    except LlmError as exc:
        log.warning("LLM polish unavailable, keeping the deterministic text (%s)", exc)
        return list(events)
