"""Create, list and revoke storefront API keys from the shell."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from recommender.models import ApiKey
from recommender.serving.api_keys import api_key_create, api_key_revoke, api_keys_list
from recommender.serving.errors import DomainError


class Command(BaseCommand):
    help = "Manage storefront API keys: create NAME --scopes read,events | list | revoke PREFIX"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("name")
        create.add_argument("--scopes", default="read")
        sub.add_parser("list")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")

    def handle(self, *args, action: str, **opts):
        if action == "create":
            try:
                created = api_key_create(name=opts["name"], scopes=opts["scopes"].split(","))
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"Created key '{created.key.name}' with scopes {created.key.scopes}.")
            self.stdout.write("Secret (shown once, store it now):")
            self.stdout.write(created.secret)
        elif action == "list":
            for key in api_keys_list():
                state = "revoked" if key.revoked_at else "active"
                self.stdout.write(f"{key.prefix}  {key.name}  {','.join(key.scopes)}  {state}")
        else:
            key = ApiKey.objects.filter(prefix=opts["prefix"]).first()
            if key is None:
                raise CommandError(f"No API key with prefix '{opts['prefix']}'.")
            api_key_revoke(key)
            self.stdout.write(f"Revoked key {key.prefix} ({key.name}).")
