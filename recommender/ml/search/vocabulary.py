"""The jewelry vocabulary search understands: types, colours, materials, stones, styles,
shapes and occasions, each with its English and Chinese forms.

The terms are data (``data/vocabulary.json``, mined from the catalogue's names and
descriptions and reviewed); merchandisers add synonyms at run time, which
``Vocabulary.extended`` merges over the file. Pure Python: no Django here.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np

VOCABULARY_FILE = Path(__file__).with_name("data") / "vocabulary.json"
VOCABULARY_FORMAT = "jewelrec.search_vocabulary/1"
KINDS = ("type", "colour", "material", "stone", "style", "shape", "occasion")
# Kinds whose terms are attributes of the item text (not the type / colour-group fields).
TEXT_KINDS = ("material", "stone", "style", "shape", "occasion")


def is_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def normalise_form(form: str) -> str:
    return " ".join(str(form).lower().split())


@dataclass(frozen=True)
class Term:
    concept: str
    kind: str
    en: tuple[str, ...] = ()
    zh: tuple[str, ...] = ()
    catalog: tuple[str, ...] = ()  # stems marking an item as having the term
    filter: bool = True  # a query naming it keeps only items that have it
    type: str | None = None  # the jewelry type it implies when the query names none
    colour: str | None = None  # the colour it implies (sterling silver -> silver)
    product_types: tuple[str, ...] = ()  # kind == "type": the catalog's product_type values
    colour_groups: tuple[str, ...] = ()  # kind == "colour": the catalog's colour groups

    @property
    def forms(self) -> tuple[str, ...]:
        return self.en + self.zh

    @property
    def label_zh(self) -> str:
        return self.zh[0] if self.zh else self.concept


def _term(raw: dict) -> Term:
    kind = raw.get("kind", "")
    if kind not in KINDS:
        raise ValueError(f"term {raw.get('concept')!r}: unknown kind {kind!r}")
    concept = normalise_form(raw["concept"])
    if not concept:
        raise ValueError("a term needs a concept")
    return Term(
        concept=concept,
        kind=kind,
        en=tuple(normalise_form(f) for f in raw.get("en", ()) if normalise_form(f)),
        zh=tuple(normalise_form(f) for f in raw.get("zh", ()) if normalise_form(f)),
        catalog=tuple(normalise_form(f) for f in raw.get("catalog", ()) if normalise_form(f)),
        filter=bool(raw.get("filter", True)),
        type=raw.get("type"),
        colour=raw.get("colour"),
        product_types=tuple(raw.get("product_types", ())),
        colour_groups=tuple(raw.get("colour_groups", ())),
    )


def _form_pattern(forms: Iterable[str]) -> re.Pattern | None:
    """Leftmost-longest matcher: Latin forms need word edges (and may take a plural), CJK forms do not."""
    forms = sorted(set(forms), key=lambda f: (-len(f), f))
    if not forms:
        return None
    latin = [f for f in forms if not is_cjk(f)]
    cjk = [f for f in forms if is_cjk(f)]
    parts = []
    if latin:
        alts = "|".join(re.escape(f).replace(r"\ ", r"[\s-]+") for f in latin)
        parts.append(rf"(?<![a-z0-9])(?:{alts})(?:e?s)?(?![a-z0-9])")
    if cjk:
        parts.append("|".join(re.escape(f) for f in cjk))
    return re.compile("|".join(parts))


_CATALOG_SUFFIX = r"(?:s|es|y|ly|pk|pack|ed)?"


def catalog_pattern(stems: Iterable[str]) -> re.Pattern | None:
    """Matches an item's name or description that uses one of ``stems`` as a word
    ("pearl" finds pearls and pearly, "hoop" finds hooppk, "stud" does not find studio);
    a stem written "-pk" matches any word ending in it (ringpk, studpk)."""
    stems = sorted({s for s in stems if s}, key=lambda s: (-len(s), s))
    words = [s for s in stems if not s.startswith("-")]
    endings = [s[1:] for s in stems if s.startswith("-") and len(s) > 1]  # "-pk": any word ending in pk
    parts = []
    if words:
        alts = "|".join(re.escape(s).replace(r"\ ", r"\s+") for s in words)
        parts.append(rf"(?<![a-z])(?:{alts}){_CATALOG_SUFFIX}(?![a-z])")
    if endings:
        parts.append(rf"(?:{'|'.join(re.escape(s) for s in endings)})(?![a-z])")
    return re.compile("|".join(parts)) if parts else None


@dataclass
class Vocabulary:
    terms: dict[str, Term]
    version: str
    _by_form: dict[str, Term] = field(default_factory=dict, repr=False)
    _pattern: re.Pattern | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        by_form: dict[str, Term] = {}
        # A form claimed by two terms keeps the first (file order: types, colours, then the rest).
        for term in self.terms.values():
            for form in term.forms:
                by_form.setdefault(form, term)
        self._by_form = by_form
        self._pattern = _form_pattern(by_form)

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        if data.get("format") != VOCABULARY_FORMAT:
            raise ValueError(f"not a search vocabulary ({data.get('format')!r})")
        terms: dict[str, Term] = {}
        for raw in data.get("terms", []):
            term = _term(raw)
            if term.concept in terms:
                raise ValueError(f"term {term.concept!r} appears twice")
            terms[term.concept] = term
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]
        return cls(terms=terms, version=f"vocab-{digest}")

    @classmethod
    def builtin(cls) -> "Vocabulary":
        return _builtin()

    def term(self, concept: str) -> Term | None:
        return self.terms.get(concept)

    def term_for_form(self, form: str) -> Term | None:
        form = normalise_form(form)
        found = self._by_form.get(form)
        if found is None and not is_cjk(form):
            for suffix in ("es", "s"):
                if form.endswith(suffix) and form[: -len(suffix)] in self._by_form:
                    return self._by_form[form[: -len(suffix)]]
        return found

    def finditer(self, text: str):
        """(start, end, Term) for every vocabulary form in lower-cased ``text``, leftmost-longest."""
        if self._pattern is None:
            return
        for m in self._pattern.finditer(text):
            term = self.term_for_form(m.group(0))
            if term is not None:
                yield m.start(), m.end(), term

    def of_kind(self, *kinds: str) -> list[Term]:
        return [t for t in self.terms.values() if t.kind in kinds]

    def type_product_types(self) -> dict[str, list[str]]:
        return {t.concept: list(t.product_types) for t in self.of_kind("type")}

    def colour_groups(self) -> dict[str, list[str]]:
        return {t.concept: list(t.colour_groups) for t in self.of_kind("colour")}

    def extended(self, synonyms: Iterable[tuple[str, str, str]]) -> "Vocabulary":
        """This vocabulary plus ``(concept, form, kind)`` synonyms. A form joins its
        concept's English or Chinese forms by its script; an unknown concept becomes a new
        term of ``kind`` whose catalogue stems are its English forms (it marks items that
        use the word). The version changes with the synonyms, so caches keyed on it refresh."""
        terms = dict(self.terms)
        added = []
        for concept, form, kind in synonyms:
            concept, form = normalise_form(concept), normalise_form(form)
            if not concept or not form:
                continue
            term = terms.get(concept)
            if term is None:
                if kind not in TEXT_KINDS:
                    continue  # a new type or colour needs catalogue fields a synonym cannot give
                term = Term(concept=concept, kind=kind, catalog=() if is_cjk(concept) else (concept,),
                            en=() if is_cjk(concept) else (concept,), zh=(concept,) if is_cjk(concept) else ())
            if form in term.forms:
                terms[concept] = term
                continue
            if is_cjk(form):
                term = replace(term, zh=term.zh + (form,))
            else:
                term = replace(term, en=term.en + (form,),
                               catalog=term.catalog + ((form,) if term.kind in TEXT_KINDS and not term.catalog else ()))
            terms[concept] = term
            added.append(f"{concept}={form}")
        if not added:
            return self
        digest = hashlib.sha256("|".join(sorted(added)).encode()).hexdigest()[:8]
        return Vocabulary(terms=terms, version=f"{self.version}+{digest}")

    def item_terms(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Per text-kind concept, a bool per text: does the item's name or description use it.

        The same answer as searching each text with ``catalog_pattern``, in a time that stays
        in seconds at 100,000 items: a one-word stem is looked up among the catalogue's
        distinct words (a word matches a stem as the text would around it), and a phrase
        ("various designs", "metal-chain") is searched only in the texts that have all its
        words. Repeated texts are read once."""
        lowered = [t.lower() for t in texts]
        unique = list(dict.fromkeys(lowered))
        position = {t: i for i, t in enumerate(unique)}
        back = np.fromiter((position[t] for t in lowered), dtype=np.int64, count=len(lowered))
        postings: dict[str, list[int]] = {}
        for i, text in enumerate(unique):
            for word in set(_WORD.findall(text)):
                postings.setdefault(word, []).append(i)
        out: dict[str, np.ndarray] = {}
        for term in self.of_kind(*TEXT_KINDS):
            has = np.zeros(len(unique), dtype=bool)
            words = [s for s in term.catalog if _WORD.fullmatch(s) or (s.startswith("-") and _WORD.fullmatch(s[1:]))]
            phrases = [s for s in term.catalog if s not in words]
            pattern = catalog_pattern(words)
            if pattern is not None:
                for word, rows in postings.items():
                    if pattern.search(word):
                        has[rows] = True
            pattern = catalog_pattern(phrases)
            for phrase in phrases:
                parts = _WORD.findall(phrase)
                if not parts or any(p not in postings for p in parts):
                    continue
                candidates = set(postings[parts[0]]).intersection(*(postings[p] for p in parts[1:]))
                for i in candidates:
                    if not has[i] and pattern.search(unique[i]):
                        has[i] = True
            out[term.concept] = has[back]
        return out


_WORD = re.compile(r"[a-z]+")


@lru_cache(maxsize=1)
def _builtin() -> Vocabulary:
    return Vocabulary.from_dict(json.loads(VOCABULARY_FILE.read_text(encoding="utf-8")))
