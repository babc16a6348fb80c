"""Create the demo staff account once, and print its credentials.

The password is generated on first run and kept in the local var folder so later runs
can print it again; production accounts are made with ``createsuperuser``.
"""
from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create (once) a staff merchandiser account and print its credentials."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="merchandiser")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        secret_file = settings.VAR_DIR / "staff-credentials.txt"
        user = User.objects.filter(username=username).first()
        if user is None or not secret_file.exists():
            password = secrets.token_urlsafe(12)
            if user is None:
                user = User.objects.create_user(username=username, password=password, is_staff=True, is_superuser=True)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            secret_file.write_text(f"{username}\n{password}\n")
            secret_file.chmod(0o600)
        username, password = secret_file.read_text().split()[:2]
        self.stdout.write(self.style.SUCCESS(f"Staff login: username '{username}'  password '{password}'"))
