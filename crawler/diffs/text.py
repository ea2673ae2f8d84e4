"""The readable text of two captures, diffed word by word with diff-match-patch.

Words, not characters, are the unit: each distinct token (a word, a run of
spaces, a punctuation mark, one CJK character) is mapped to one character, the
mapped strings are diffed (diff-match-patch's line-mode trick applied to words),
then expanded and semantically cleaned. So an edit never splits a word
("lighthouse" -> "lightship" is one deleted and one inserted word, not "house"
-> "ship"), word counts are exact, and long texts diff in milliseconds. A time
limit bounds the worst case; past it the diff is still correct, only less minimal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from diff_match_patch import diff_match_patch

DEFAULT_TIMEOUT = 1.0
EXCERPT_CHARS = 280
CONTEXT_CHARS = 40

TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|\w+|\s+|[^\w\s]", re.UNICODE)
WORD = re.compile(r"\w+", re.UNICODE)
SPACES = re.compile(r"\s+")
OP_NAMES = {diff_match_patch.DIFF_EQUAL: "equal", 1: "insert", -1: "delete"}


@dataclass(frozen=True, slots=True)
class TextOp:
    op: str  # "equal" | "insert" | "delete"
    text: str


@dataclass(frozen=True, slots=True)
class TextDiff:
    """How the text of `a` became the text of `b`."""

    ops: tuple[TextOp, ...]
    chars_a: int
    chars_b: int
    chars_inserted: int
    chars_deleted: int
    words_inserted: int
    words_deleted: int

    @property
    def share_changed(self) -> float:
        """Inserted plus deleted characters over both texts: 0 identical, 1 nothing shared."""
        total = self.chars_a + self.chars_b
        return (self.chars_inserted + self.chars_deleted) / total if total else 0.0

    @property
    def changed(self) -> bool:
        return any(op.op != "equal" for op in self.ops)

    def excerpt(self, limit: int = EXCERPT_CHARS) -> str:
        """The first changes in wdiff notation: `… before [-old-]{+new+} after …`."""
        pieces: list[str] = []
        last = len(self.ops) - 1
        for index, op in enumerate(self.ops):
            text = _squash(op.text)
            if op.op == "delete":
                pieces.append(f"[-{text}-]")
            elif op.op == "insert":
                pieces.append(f"{{+{text}+}}")
            elif index == 0:
                pieces.append(("…" if len(text) > CONTEXT_CHARS else "") + text[-CONTEXT_CHARS:])
            elif index == last:
                pieces.append(text[:CONTEXT_CHARS] + ("…" if len(text) > CONTEXT_CHARS else ""))
            elif len(text) <= 2 * CONTEXT_CHARS:
                pieces.append(text)
            else:
                pieces.append(f"{text[:CONTEXT_CHARS]}…{text[-CONTEXT_CHARS:]}")
            if sum(map(len, pieces)) >= limit:
                break
        if not any(op.op != "equal" for op in self.ops):
            return ""
        out = "".join(pieces).strip()
        return out if len(out) <= limit else out[: limit - 1] + "…"


def _squash(text: str) -> str:
    return SPACES.sub(" ", text)


def _encode(text: str, tokens: list[str], codes: dict[str, str]) -> str:
    out: list[str] = []
    for token in TOKEN.findall(text):
        code = codes.get(token)
        if code is None:
            code = chr(len(tokens))
            codes[token] = code
            tokens.append(token)
        out.append(code)
    return "".join(out)


def diff_text(a: str, b: str, *, timeout: float = DEFAULT_TIMEOUT) -> TextDiff:
    """Diff two texts word by word; `timeout` seconds bound the search (0 = no limit)."""
    engine = diff_match_patch()
    engine.Diff_Timeout = timeout
    tokens = [""]  # code 0 stays unused, as in diff-match-patch's own line mode
    codes: dict[str, str] = {}
    encoded_a = _encode(a, tokens, codes)
    encoded_b = _encode(b, tokens, codes)
    raw = engine.diff_main(encoded_a, encoded_b, False)
    engine.diff_charsToLines(raw, tokens)
    engine.diff_cleanupSemantic(raw)
    ops = tuple(TextOp(OP_NAMES[kind], text) for kind, text in raw if text)
    inserted = [op.text for op in ops if op.op == "insert"]
    deleted = [op.text for op in ops if op.op == "delete"]
    return TextDiff(
        ops=ops,
        chars_a=len(a),
        chars_b=len(b),
        chars_inserted=sum(map(len, inserted)),
        chars_deleted=sum(map(len, deleted)),
        words_inserted=sum(len(WORD.findall(t)) for t in inserted),
        words_deleted=sum(len(WORD.findall(t)) for t in deleted),
    )
