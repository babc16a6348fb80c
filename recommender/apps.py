from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "JewelRec"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from recommender.serving.customers import context_signals_connect

        context_signals_connect()
