"""Train the jewelry image adapter on the labelled photos and publish it to visual search."""
from __future__ import annotations

from django.core.management.base import BaseCommand

from recommender.embeddings.adapter_jobs import image_adapter_train


class Command(BaseCommand):
    help = "Adapt ImageNet features to jewelry types (held-out evaluation printed and stored with the artifact)."

    def handle(self, *args, **options):
        def say(fraction, message="", **_):
            if message:
                self.stdout.write(message)

        result = image_adapter_train(say)
        self.stdout.write(self.style.SUCCESS(result["message"]))
