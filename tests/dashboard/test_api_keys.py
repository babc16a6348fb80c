"""API keys: the secret is shown exactly once; errors are inline; revoke works."""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from recommender.models import ApiKey
from recommender.serving.api_keys import ApiKeyError, api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db
SECRET_RE = re.compile(r"jr_[0-9a-f]{8}_[A-Za-z0-9_\-]{20,}")


def test_create_shows_secret_once_and_it_works(staff_client, staff_user):
    response = staff_client.post(reverse("dashboard:api_key_new"), {"name": "Web shop", "scopes": ["read", "events"]})
    assert response.status_code == 302
    key = ApiKey.objects.get()
    assert key.name == "Web shop" and key.scopes == ["events", "read"] and key.created_by == staff_user

    first = staff_client.get(response["Location"])
    assert first["Cache-Control"] == "no-store"
    secrets = SECRET_RE.findall(first.content.decode())
    assert len(set(secrets)) == 1
    secret = secrets[0]
    assert secret.startswith(f"jr_{key.prefix}_")
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert api_key_authenticate(secret).pk == key.pk

    # A reload never shows it again, and neither does the list.
    again = staff_client.get(response["Location"]).content.decode()
    assert secret not in again and not SECRET_RE.search(again)
    assert "already shown" in again
    listing = staff_client.get(reverse("dashboard:api_keys")).content.decode()
    assert secret not in listing
    assert key.prefix in listing


def test_secret_is_not_shown_for_another_key(staff_client):
    staff_client.post(reverse("dashboard:api_key_new"), {"name": "A", "scopes": ["read"]})
    other = api_key_create(name="B", scopes=["read"])
    html = staff_client.get(reverse("dashboard:api_key_created", args=[other.key.pk])).content.decode()
    assert not SECRET_RE.search(html)


def test_invalid_form_shows_inline_errors_and_creates_nothing(staff_client):
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = staff_client.post(reverse("dashboard:api_key_new"), {"name": "", "expires_at": past})
    html = response.content.decode()
    assert response.status_code == 200
    assert ApiKey.objects.count() == 0
    assert 'id="id_name_error"' in html and 'aria-invalid="true"' in html
    assert 'aria-describedby="id_name_helptext id_name_error"' in html
    assert "Choose at least one scope." in html
    assert '<label for="id_name">' in html


def test_expiry_in_the_past_is_an_inline_error(staff_client):
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = staff_client.post(reverse("dashboard:api_key_new"), {"name": "Old", "scopes": ["read"], "expires_at": past})
    html = response.content.decode()
    assert ApiKey.objects.count() == 0
    assert 'id="id_expires_at_error"' in html
    assert "The expiry must be in the future." in html


def test_expiry_is_stored(staff_client):
    future = timezone.now() + timedelta(days=30)
    staff_client.post(
        reverse("dashboard:api_key_new"),
        {"name": "Temp", "scopes": ["events"], "expires_at": future.strftime("%Y-%m-%dT%H:%M")},
    )
    key = ApiKey.objects.get()
    assert key.expires_at.replace(second=0, microsecond=0) == future.replace(second=0, microsecond=0)


def test_revoke_with_confirmation(staff_client):
    created = api_key_create(name="Shop", scopes=["read"])
    url = reverse("dashboard:api_key_revoke", args=[created.key.pk])
    confirm = staff_client.get(url)
    assert "Revoke key" in confirm.content.decode()
    created.key.refresh_from_db()
    assert created.key.revoked_at is None

    response = staff_client.post(url)
    assert response.status_code == 302
    created.key.refresh_from_db()
    assert created.key.revoked_at is not None
    with pytest.raises(ApiKeyError) as err:
        api_key_authenticate(created.secret)
    assert err.value.code == "revoked_token"
    listing = staff_client.get(reverse("dashboard:api_keys")).content.decode()
    assert "badge-revoked" in listing


def test_list_query_count_is_bounded(staff_client, staff_user, django_assert_max_num_queries):
    for i in range(25):
        api_key_create(name=f"k{i}", scopes=["read"], user=staff_user)
    with django_assert_max_num_queries(4):
        html = staff_client.get(reverse("dashboard:api_keys")).content.decode()
    assert html.count("badge-active") == 25


@pytest.mark.parametrize("kwargs,field", [
    ({"name": " ", "scopes": ["read"]}, "name"),
    ({"name": "Shop", "scopes": ["read", "admin"]}, "scopes"),
    ({"name": "Shop", "scopes": ["read"], "expires_at": timezone.now() - timedelta(minutes=1)}, "expires_at"),
])
def test_a_refused_key_names_its_field_and_creates_nothing(kwargs, field):
    from recommender.serving.errors import DomainError

    with pytest.raises(DomainError) as exc:
        api_key_create(**kwargs)
    assert exc.value.field == field
    assert not ApiKey.objects.exists()


def test_the_shell_command_reports_a_refused_key():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="Scopes must be a non-empty subset"):
        call_command("api_key", "create", "Shop", "--scopes", "root")
    assert not ApiKey.objects.exists()
