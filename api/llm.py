"""Generative answers through an OpenAI-compatible chat-completions server (llama.cpp, vLLM, ...).

Used only when EDSEARCH_LLM_URL is set; without it nothing here is contacted. The model sees the numbered passages
and nothing else, must cite them as [n], and citations to sources that were not given are removed and reported.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import httpx

SYSTEM_PROMPT = (
    "You answer questions about an editorial archive using ONLY the numbered passages given. "
    "Cite every claim with the passage number in square brackets, e.g. [1] or [2]. "
    "Cite only the numbers given. If the passages do not answer the question, say that the archive "
    "does not answer it. Be brief: one to three sentences.")

_MARKER = re.compile(r"\[(\d{1,4})\]")


class LLMError(RuntimeError):
    """The language model server could not be reached or answered badly (the HTTP API maps it to 502)."""


def chat_url(base: str) -> str:
    """{base}/chat/completions, where base may or may not end in /v1 (or already be the full URL)."""
    base = base.strip().rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if not re.search(r"/v\d+$", base):
        base += "/v1"
    return base + "/chat/completions"


def build_messages(question: str, hits) -> list[dict]:
    blocks = []
    for n, h in enumerate(hits, 1):
        blocks.append(f"[{n}] {h.article.title} ({h.citation.label})\n{h.text.strip()}")
    user = ("Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}\n"
            "Answer from the passages only, citing them as [n].")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def clean_citations(text: str, n_sources: int) -> tuple[str, list[int], list[int]]:
    """Drop [n] markers with n outside 1..n_sources. Returns (text, kept numbers, removed numbers)."""
    kept: list[int] = []
    removed: list[int] = []

    def repl(m: re.Match) -> str:
        n = int(m.group(1))
        if 1 <= n <= n_sources:
            if n not in kept:
                kept.append(n)
            return m.group(0)
        if n not in removed:
            removed.append(n)
        return ""

    out = _MARKER.sub(repl, text)
    out = re.sub(r"[ \t]+([.,;:!?])", r"\1", out)
    out = re.sub(r"[ \t]{2,}", " ", out).strip()
    return out, kept, removed


class CitationFilter:
    """Removes invalid [n] markers from a stream of text pieces (a marker may be split across pieces)."""

    def __init__(self, n_sources: int):
        self.n = n_sources
        self.buf = ""
        self.removed: list[int] = []

    def feed(self, piece: str) -> str:
        self.buf += piece
        out = []
        while self.buf:
            i = self.buf.find("[")
            if i < 0:
                out.append(self.buf)
                self.buf = ""
                break
            out.append(self.buf[:i])
            self.buf = self.buf[i:]
            m = re.match(r"\[(\d{0,4})(\])?", self.buf)
            if m and not m.group(2) and len(m.group(0)) == len(self.buf):
                break                           # "[12" so far: wait for more
            if m and m.group(2) and m.group(1):
                n = int(m.group(1))
                if 1 <= n <= self.n:
                    out.append(m.group(0))
                elif n not in self.removed:
                    self.removed.append(n)
                self.buf = self.buf[m.end():]
            else:
                out.append("[")
                self.buf = self.buf[1:]
        return "".join(out)

    def flush(self) -> str:
        out, self.buf = self.buf, ""
        return out


class LLMClient:
    def __init__(self, url: str, model: str = "default", timeout: float = 60.0, temperature: float = 0.0,
                 max_tokens: int = 400):
        self.url = chat_url(url)
        self.model, self.timeout = model, timeout
        self.temperature, self.max_tokens = temperature, max_tokens

    def _body(self, messages: list[dict], stream: bool) -> dict:
        return {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "stream": stream}

    def _fail(self, exc: Exception) -> LLMError:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return LLMError(f"the language model at {self.url} did not answer within {self.timeout:g}s")
        return LLMError(f"cannot reach the language model at {self.url} ({exc.__class__.__name__}: {exc}); "
                        "check EDSEARCH_LLM_URL or unset it for extractive answers")

    @staticmethod
    def _status(resp: httpx.Response, url: str) -> None:
        if resp.status_code >= 400:
            try:
                body = resp.read().decode("utf-8", "replace")[:300]
            except Exception:
                body = ""
            raise LLMError(f"the language model at {url} answered HTTP {resp.status_code}: {body}")

    def complete(self, messages: list[dict]) -> str:
        import httpx   # here, not at the top: a search from the command line need not pay for importing it

        try:
            resp = httpx.post(self.url, json=self._body(messages, False), timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise self._fail(exc) from exc
        self._status(resp, self.url)
        try:
            return resp.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"the language model at {self.url} sent a reply without choices[0].message.content")\
                from exc

    def stream(self, messages: list[dict]) -> Iterator[str]:
        """Text pieces as they arrive. Connects (and checks the status) before returning."""
        import httpx

        client = httpx.Client(timeout=self.timeout)
        try:
            cm = client.stream("POST", self.url, json=self._body(messages, True))
            resp = cm.__enter__()
            self._status(resp, self.url)
        except httpx.HTTPError as exc:
            client.close()
            raise self._fail(exc) from exc
        except LLMError:
            client.close()
            raise
        return self._pieces(client, cm, resp)

    def _pieces(self, client, cm, resp) -> Iterator[str]:
        import httpx

        finished = cut = False  # [DONE] or a finish_reason ends an answer; "length" cuts it, as does a broken stream
        try:
            for line in resp.iter_lines():
                line = line.strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    finished = True
                    break
                try:
                    choice = json.loads(data)["choices"][0]
                except (ValueError, KeyError, IndexError, TypeError):
                    continue
                finished = finished or bool(choice.get("finish_reason"))
                cut = cut or choice.get("finish_reason") == "length"
                piece = (choice.get("delta") or {}).get("content") or (choice.get("message") or {}).get("content")
                if piece:
                    yield piece
            if cut or not finished:
                raise LLMError(f"the language model at {self.url} " + ("stopped at its token limit" if cut else
                               "ended its stream before it finished the answer (no [DONE])")
                               + "; the answer would be cut off, so it is not given")
        except httpx.HTTPError as exc:
            raise self._fail(exc) from exc
        finally:
            cm.__exit__(None, None, None)
            client.close()
