from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "JewelRec"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from recommender.jobs.services import job_on_failure
        from recommender.models import Job
        from recommender.serving.customers import context_signals_connect
        from recommender.training.services import training_job_failed

        context_signals_connect()
        job_on_failure(Job.Kind.TRAIN, training_job_failed)
