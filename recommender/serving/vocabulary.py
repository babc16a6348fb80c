"""The search vocabulary in use: the reviewed file plus the merchandisers' synonyms.

``search_vocabulary`` is what search and the assistant parse queries with; it is a
per-process snapshot that a synonym saved or deleted here refreshes at once (other
processes within ``JEWELREC_SERVING_CONFIG_SECONDS``), so a new synonym needs no deploy.
"""
from __future__ import annotations

from django.db import IntegrityError, transaction

from recommender.ml.search.vocabulary import TEXT_KINDS, Vocabulary, is_cjk, normalise_form
from recommender.models import SearchSynonym

from .errors import DomainError
from .snapshots import ProcessSnapshot, snapshot_on_change

MAX_FORM_CHARS = 64


def _load() -> Vocabulary:
    rows = SearchSynonym.objects.order_by("id").values_list("concept", "form", "kind")
    return Vocabulary.builtin().extended(list(rows))


_snapshot: ProcessSnapshot[Vocabulary] = ProcessSnapshot(_load)
snapshot_on_change(_snapshot, SearchSynonym)


def search_vocabulary() -> Vocabulary:
    return _snapshot.get()


def search_synonym_add(*, concept: str, form: str, kind: str | None = None) -> SearchSynonym:
    """Teach search one more form of a term. A form another term already owns is refused
    (one form, one meaning); a new concept needs a text kind (material ... occasion)."""
    concept, form = normalise_form(concept), normalise_form(form)
    if not concept:
        raise DomainError("Name the term the synonym belongs to.", field="concept", code="required")
    if not form:
        raise DomainError("The synonym must not be empty.", field="form", code="required")
    if len(form) > MAX_FORM_CHARS or len(concept) > MAX_FORM_CHARS:
        raise DomainError(f"Keep terms and synonyms under {MAX_FORM_CHARS} characters.", field="form", code="too_long")
    vocab = search_vocabulary()
    term = vocab.term(concept)
    if term is None:
        if kind not in TEXT_KINDS:
            raise DomainError(f"'{concept}' is a new term: choose what kind it is ({', '.join(TEXT_KINDS)}).",
                              field="kind", code="invalid")
        if is_cjk(concept):
            # Its name is the word that marks items: the catalogue's names and descriptions are English.
            raise DomainError("Name a new term in English, the catalogue's language: items whose name or "
                              "description uses that word are the ones it finds. Add the Chinese as its synonym.",
                              field="concept", code="invalid")
    else:
        kind = term.kind
    owner = vocab.term_for_form(form)
    if owner is not None and owner.concept != concept and form in owner.forms:
        raise DomainError(f"'{form}' already means '{owner.concept}'.", field="form", code="duplicate")
    if term is not None and form in term.forms:
        raise DomainError(f"'{form}' is already a form of '{concept}'.", field="form", code="duplicate")
    try:
        with transaction.atomic():
            return SearchSynonym.objects.create(concept=concept, form=form, kind=kind)
    except IntegrityError:
        raise DomainError(f"'{form}' is already a synonym.", field="form", code="duplicate") from None


def search_synonym_delete(synonym_id: int) -> bool:
    deleted, _ = SearchSynonym.objects.filter(id=synonym_id).delete()
    return bool(deleted)


def search_synonyms() -> list[SearchSynonym]:
    return list(SearchSynonym.objects.all())
