"""Search vocabulary: the terms search understands, merchandiser synonyms, and a preview."""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from recommender.ml.search.vocabulary import KINDS
from recommender.serving.errors import DomainError
from recommender.serving.scenarios import Request
from recommender.serving.search import search_text
from recommender.serving.vocabulary import search_synonym_add, search_synonym_delete, search_synonyms, search_vocabulary

from ..access import staff_required
from ..forms import SearchSynonymForm

PREVIEW_K = 12


def _page(request: HttpRequest, form: SearchSynonymForm, status: int = 200) -> HttpResponse:
    query = (request.GET.get("q") or "").strip()[:500]
    preview, error = None, None
    if query:
        try:
            preview = search_text(query, Request(k=PREVIEW_K))
        except DomainError as exc:
            error = exc.message
    parsed = preview.extras.get("parsed") if preview else None
    excluded = [*parsed["excluded_types"], *parsed["excluded_colours"], *parsed["excluded_terms"]] if parsed else []
    vocab = search_vocabulary()
    terms = sorted(vocab.terms.values(), key=lambda t: (KINDS.index(t.kind), t.concept))
    return render(request, "dashboard/search/vocabulary.html", {
        "section": "search", "form": form, "query": query, "preview": preview, "error": error,
        "parsed": parsed, "excluded": excluded, "terms": terms, "synonyms": search_synonyms(),
        "vocabulary_version": vocab.version,
    }, status=status)


@staff_required
@require_GET
def vocabulary_page(request: HttpRequest) -> HttpResponse:
    return _page(request, SearchSynonymForm(initial={"concept": request.GET.get("concept", "")}))


@staff_required
@require_POST
def synonym_add(request: HttpRequest) -> HttpResponse:
    form = SearchSynonymForm(request.POST)
    if form.is_valid():
        try:
            synonym = search_synonym_add(concept=form.cleaned_data["concept"], form=form.cleaned_data["form"],
                                         kind=form.cleaned_data["kind"] or None)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"“{synonym.form}” now means “{synonym.concept}”; the preview shows it.")
            return redirect(f"{reverse('dashboard:search_vocabulary')}?{urlencode({'q': synonym.form})}")
    return _page(request, form, status=400)


@staff_required
@require_POST
def synonym_delete(request: HttpRequest, synonym_id: int) -> HttpResponse:
    if search_synonym_delete(synonym_id):
        messages.success(request, "Synonym removed.")
    return redirect("dashboard:search_vocabulary")
