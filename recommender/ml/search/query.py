"""Understand a shopper's search text, in English, Chinese or both at once.

``parse_query`` reads the vocabulary's terms (types, colours, materials, stones, styles,
shapes, occasions), price bounds and negation ("not gold", "without rhinestones",
"不要耳钉", "除了银色") out of the text and leaves the rest as free text. Prices are
returned as written: converting them to the catalog's price scale is the caller's business.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from .vocabulary import Term, Vocabulary, is_cjk

# The longest text that is parsed; the API refuses longer queries before they get here.
MAX_QUERY_CHARS = 500

_NUM = r"(\d+(?:[.,]\d+)?)"
_CUR_PRE = r"(?:[$€£¥￥]\s*)?"
_CUR_POST = r"(?:\s*(?:元|块钱|块|欧元|美元|eur|euro|euros|usd|dollars?|kr|sek|rmb|yuan))?"
_PRICE_PATTERNS: list[tuple[re.Pattern, str]] = [
    # ranges first so "between 10 and 30" is not read as two open bounds
    (re.compile(rf"between\s*{_CUR_PRE}{_NUM}{_CUR_POST}\s*(?:and|to|-)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "range"),
    (re.compile(rf"(?:from\s*)?{_CUR_PRE}{_NUM}{_CUR_POST}\s*(?:-|–|~|to|到|至)\s*{_CUR_PRE}{_NUM}{_CUR_POST}(?:\s*(?:之间|左右))?"), "range"),
    (re.compile(rf"(?:under|below|less than|cheaper than|at most|up to|max(?:imum)?|no more than|<=?)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "max"),
    (re.compile(rf"(?:低于|不超过|不到|少于|小于|便宜于|最多|以下)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "max"),
    (re.compile(rf"{_CUR_PRE}{_NUM}{_CUR_POST}\s*(?:以下|以内|之内|内)"), "max"),
    (re.compile(rf"(?:over|above|more than|at least|min(?:imum)?|from|>=?)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "min"),
    (re.compile(rf"(?:高于|超过|多于|大于|至少)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "min"),
    (re.compile(rf"{_CUR_PRE}{_NUM}{_CUR_POST}\s*(?:以上|起)"), "min"),
]

# Negation opens a scope over the terms after it; a breaker closes it ("no silver, gold please").
_NEGATION_CUES = [
    "not", "no", "non", "without", "w/o", "except", "excluding", "exclude", "other than", "anything but", "but not",
    "free of", "never", "nothing", "avoid", "don't want", "do not want", "dont want", "don't like", "isn't", "aren't",
    "not in", "no more", "minus", "skip", "instead of",
    "不要", "不是", "除了", "不含", "不带", "没有", "不想要", "别要", "别", "不用", "非", "无", "不", "去掉", "排除",
]
_BREAKERS = ["but", "with", "only", "just", "instead", "rather", "prefer", "but with", "但", "但是", "而是", "要", "只要", "想要", "带",
             ",", ";", "，", "；", "。", ".", "!", "?", "！", "？"]
_STOP_EN = {
    "with", "for", "a", "an", "the", "and", "or", "in", "of", "i", "want", "need", "looking", "look", "some", "me", "show",
    "price", "priced", "cheap", "do", "you", "have", "has", "any", "is", "are", "it", "this", "that", "these", "those",
    "please", "pls", "find", "get", "buy", "my", "something", "things", "thing", "one", "ones", "which", "what", "to",
    "on", "at", "by", "style", "styles", "type", "kind", "jewelry", "jewellery", "piece", "pieces", "item", "items",
    "would", "like", "can", "could", "got", "your", "be", "there", "made", "sell", "shop", "around", "about", "hi",
    "hello", "hey", "also", "too", "very", "really", "so", "more", "most", "much", "many", "her", "him", "she", "he",
    "we", "our", "them", "they", "their", "all", "its", "it's", "i'm", "im", "maybe", "color", "colour", "colored",
    "coloured", "tone",
}
_STOP_ZH = ["我想要", "我想买", "我要", "想要", "想买", "请给我", "给我", "帮我找", "帮我", "推荐", "有没有", "有什么", "什么", "看看",
            "一条", "一对", "一个", "一只", "一款", "一些", "这个", "那个", "这款", "的", "和", "或者", "带", "有", "吗", "呢", "吧",
            "价格", "价钱", "左右", "款", "颜色", "色", "我", "你们", "你", "请", "找", "买", "要", "想", "款式", "首饰", "饰品", "是", "了",
            "个", "些", "对", "条", "只", "也", "还", "都", "很", "可以", "就", "在", "么"]
_SPLIT = re.compile(r"[\s,.;:!?，。；：！？、/()\[\]{}\"'“”‘’<>|+*=_~#@^&%$€£¥￥-]+")


def _signal_pattern(words: dict[str, str]) -> re.Pattern:
    """Negation cues and scope breakers in one leftmost-longest pattern, so "有没有" (do you
    have) is read whole before its "没有" (without) could be."""
    parts = []
    for w in sorted(words, key=len, reverse=True):
        body = re.escape(w).replace(r"\ ", r"\s+")
        parts.append(body if is_cjk(w) or not w[0].isalnum() else rf"(?<![a-z0-9']){body}(?![a-z0-9'])")
    return re.compile("|".join(parts))


# Join negated terms: "no gold or silver", "without pearls and rhinestones".
_COORDINATORS = ["and", "or", "nor", "&", "和", "或", "或者", "、", "及", "/", "也不", "还是"]
# Between two wanted terms these make them alternatives: "pearl or rhinestone necklace".
_ALTERNATIVES = {"or", "或", "或者", "/", "还是"}
# Neither negation nor a breaker: questions that contain a cue's characters.
_NEUTRAL = ["有没有", "有没", "是不是", "要不要", "不错"]
_SIGNAL_KIND = {**{w: "cue" for w in _NEGATION_CUES}, **{w: "break" for w in _BREAKERS},
                **{w: "coord" for w in _COORDINATORS}, **{w: "neutral" for w in _NEUTRAL}}
_SIGNALS = _signal_pattern(_SIGNAL_KIND)


@dataclass
class ParsedQuery:
    text: str
    types: list[str] = field(default_factory=list)  # canonical types: earring, necklace, ring, bracelet, watch
    colours: list[str] = field(default_factory=list)  # canonical colours (the vocabulary's colour terms)
    materials: list[str] = field(default_factory=list)  # material and stone terms
    styles: list[str] = field(default_factory=list)  # style, shape and occasion terms
    excluded_types: list[str] = field(default_factory=list)
    excluded_colours: list[str] = field(default_factory=list)
    excluded_terms: list[str] = field(default_factory=list)  # excluded materials, stones, styles...
    price_min: float | None = None
    price_max: float | None = None
    remaining_text: str = ""
    implied_types: list[str] = field(default_factory=list)  # types read from a style word ("hoops")
    any_terms: bool = False  # the wanted terms are alternatives ("pearl or rhinestone"): one is enough
    truncated: bool = False

    @property
    def terms(self) -> list[str]:
        """Every wanted text-kind term: materials, stones, styles, shapes, occasions."""
        return self.materials + self.styles

    @property
    def is_empty(self) -> bool:
        """Nothing to search on: no term, no bound, no words left (only stop words or symbols)."""
        return not (self.types or self.colours or self.terms or self.remaining_text or self.excluded_types
                    or self.excluded_colours or self.excluded_terms) and self.price_min is None and self.price_max is None


def _num(s: str) -> float:
    return float(s.replace(",", "."))


def _price(s: str) -> tuple[str, float | None, float | None]:
    price_min = price_max = None
    for pat, kind in _PRICE_PATTERNS:
        m = pat.search(s)
        if not m:
            continue
        try:
            if kind == "range":
                a, b = sorted((_num(m.group(1)), _num(m.group(2))))
                price_min, price_max = a, b
            elif kind == "max" and price_max is None:
                price_max = _num(m.group(1))
            elif kind == "min" and price_min is None:
                price_min = _num(m.group(1))
            else:
                continue
        except ValueError:
            continue
        s = s[: m.start()] + " " + s[m.end():]
    return s, price_min, price_max


def _add(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def _negate_afterwards(parsed: ParsedQuery, term: Term) -> None:
    wanted = parsed.colours if term.kind == "colour" else parsed.materials if term.kind in ("material", "stone") else parsed.styles
    if term.concept in wanted:
        wanted.remove(term.concept)
    _add(parsed.excluded_colours if term.kind == "colour" else parsed.excluded_terms, term.concept)


def parse_query(text: str, vocabulary: Vocabulary | None = None) -> ParsedQuery:
    """Split a search text into wanted and excluded terms, price bounds and the remaining
    free text. Never raises on odd input (emoji, symbols, 10,000 characters)."""
    if not isinstance(text, str):
        raise TypeError(f"query must be a string, got {type(text).__name__}")
    vocab = vocabulary or Vocabulary.builtin()
    original = text
    s = unicodedata.normalize("NFKC", text).lower()
    truncated = len(s) > MAX_QUERY_CHARS
    s = " ".join(s[:MAX_QUERY_CHARS].split())
    s, price_min, price_max = _price(s)

    # One left-to-right pass over terms, negation cues and scope breakers.
    events: list[tuple[int, int, str, Term | None]] = [(a, b, "term", t) for a, b, t in vocab.finditer(s)]
    taken = [(a, b) for a, b, _, _ in events]

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    for m in _SIGNALS.finditer(s):
        if free(m.start(), m.end()):
            events.append((m.start(), m.end(), _SIGNAL_KIND[" ".join(m.group(0).split())], None))
            taken.append((m.start(), m.end()))
    events.sort(key=lambda e: e[0])

    parsed = ParsedQuery(text=original, price_min=price_min, price_max=price_max, truncated=truncated)
    # A cue negates the term after it and the terms coordinated with that one ("no gold or
    # silver", "without pearls and rhinestones"); a term after it without a coordinator is
    # what the negated word describes, and is wanted ("not gold chains", "不带水钻的珍珠耳环").
    # A cue with no term after it in its clause negates the clause's last term ("金色的不要").
    negating = False
    cue_end = -1
    negated_kind: str | None = None  # what the open negation has taken so far (None: nothing yet)
    coordinated = False
    clause: list[Term] = []
    alternative = False  # an "or" right after a wanted term
    for i, (start, end, kind, term) in enumerate(events):
        if kind != "coord" and not (kind == "term" and term is not None and term.kind != "type"):
            alternative = False
        if kind == "cue":
            following = next((e for e in events[i + 1:] if e[2] != "coord"), None)
            rest = s[end:following[0] if following is not None else len(s)]
            ends_clause = not _SPLIT.sub("", rest).strip("的了吧啊呀哦")  # "金色的不要" but not "金色的不贵"
            if (following is None or following[2] == "break") and clause and ends_clause:
                _negate_afterwards(parsed, clause[-1])
                continue
            negating, cue_end, negated_kind, coordinated = True, end, None, False
            continue
        if kind == "coord":
            coordinated = negating
            alternative = (not negating and bool(clause) and clause[-1].kind not in ("type", "colour")
                           and " ".join(s[start:end].split()) in _ALTERNATIVES)
            continue
        if kind in ("break", "neutral"):
            # "but not with a pendant": a breaker right after the cue belongs to the negated phrase
            if kind == "break" and negating and not s[cue_end:start].strip():
                continue
            negating = negating and kind == "neutral"
            if kind == "break":
                clause = []
            continue
        assert term is not None
        right_after_cue = negating and not _SPLIT.sub("", s[cue_end:start]).strip("的")
        if term.kind == "type":
            # "not earrings" excludes the type; in "not gold earrings" the type closes the scope.
            if right_after_cue:
                _add(parsed.excluded_types, term.concept)
            else:
                _add(parsed.types, term.concept)
                negating = False
            continue
        group = "colour" if term.kind == "colour" else "term"
        if negating and (negated_kind is None or coordinated):
            negated_kind, coordinated = group, False
            if term.kind == "colour":
                _add(parsed.excluded_colours, term.concept)
            else:
                _add(parsed.excluded_terms, term.concept)
            continue
        negating = False
        if alternative and term.kind != "colour":
            parsed.any_terms = True
        alternative = False
        clause.append(term)
        if term.kind == "colour":
            _add(parsed.colours, term.concept)
        elif term.kind in ("material", "stone"):
            _add(parsed.materials, term.concept)
        else:
            _add(parsed.styles, term.concept)

    for term_name in parsed.terms:
        term = vocab.term(term_name)
        if term is None:
            continue
        if term.type and term.type not in parsed.excluded_types:
            _add(parsed.implied_types, term.type)
        if term.colour and not parsed.colours and term.colour not in parsed.excluded_colours:
            _add(parsed.colours, term.colour)
    if not parsed.types and len(parsed.implied_types) == 1:
        parsed.types = list(parsed.implied_types)
    parsed.types = [t for t in parsed.types if t not in parsed.excluded_types]
    parsed.colours = [c for c in parsed.colours if c not in parsed.excluded_colours]

    # What no term, cue or bound took: the free text.
    rest = list(s)
    for a, b in taken:
        rest[a:b] = [" "] * (b - a)
    leftover = "".join(rest)
    for w in _STOP_ZH:
        leftover = leftover.replace(w, " ")
    words = [w for w in _SPLIT.split(leftover) if w and w not in _STOP_EN and any(ch.isalnum() for ch in w)]
    parsed.remaining_text = " ".join(words)
    return parsed
