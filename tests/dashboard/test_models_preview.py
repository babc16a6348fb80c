"""Jobs start forms, the Models pages (registry, metrics, promote/rollback, compare) and the Preview endpoints."""
from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from recommender.dashboard import model_reports
from recommender.models import Job, MerchandisingRule, ModelVersion, PromotionEvent
from recommender.serving.catalog import serving_catalog_invalidate
from recommender.serving.model_store import model_store_reset
from recommender.training.services import TrainingAlreadyRunning
from tests.serving.conftest import shop, tiers  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.django_db

METRIC_KEYS = ("ndcg@10", "recall@10", "hit_rate@10", "coverage@10", "cold_recall@10",
               "recall@20", "ndcg@20", "hit_rate@20", "coverage@20", "cold_recall@20")


def _metric_block(base: float) -> dict:
    return {**{key: round(base * (1 + i / 10), 6) for i, key in enumerate(METRIC_KEYS)}, "n_test_users": 412}


def _seeded(blend: float, baseline: float, spread: float = 0.002) -> dict:
    """The shape of ``evaluation.seeded.evaluate_seeded`` with its gate, for two protocols."""
    def stats(mean):
        return {"mean": mean, "std": spread, "values": [mean - spread, mean, mean + spread]}

    protocols = {}
    for name in ("intent", "cross_sell"):
        diff = blend - baseline
        protocols[name] = {
            "models": {"blend": {"ndcg@10": stats(blend), "recall@10": stats(blend * 2), "coverage@10": stats(0.07)},
                       "channel_popularity": {"ndcg@10": stats(baseline), "recall@10": stats(baseline * 2),
                                              "coverage@10": stats(0.02)},
                       "popularity": {"ndcg@10": stats(baseline - 0.02), "recall@10": stats(0.1),
                                      "coverage@10": stats(0.005)}},
            "best_baseline": "channel_popularity", "difference": {"mean": diff, "std": spread},
            "relative": diff / baseline, "passes": diff > spread}
    passes = blend - baseline > spread
    return {"seeds": [0, 1, 2], "folds": 3, "protocols": protocols,
            "gate": {"passes": passes, "shapes": {}, "details": [f"intent: difference {blend - baseline:+.4f}"],
                     "reason": ("It beats the best simple baseline on intent and cross-sell by more than the spread "
                                "between splits.") if passes else
                               ("It does not beat the best simple baseline by more than the spread between splits on "
                                "any protocol, so it is not promoted automatically.")}}


def realistic_metrics(transfer: float = 0.061, best_baseline: float = 0.044, *, blend: float = 0.125,
                      channel_baseline: float = 0.108) -> dict:
    """The shape of ``EvaluationReport.to_dict()`` plus what ``training_job_run`` adds."""
    seeded = _seeded(blend, channel_baseline)
    return {
        "seeded": seeded,
        "gate": seeded["gate"],
        "cross_sell": {
            "popularity": _metric_block(best_baseline),
            "recency_popularity": _metric_block(best_baseline - 0.004),
            "item_knn": _metric_block(best_baseline - 0.01),
            "als": _metric_block(best_baseline - 0.02),
            "content": _metric_block(best_baseline - 0.03),
            "xdeepfm_transfer": _metric_block(transfer),
            "xdeepfm_scratch_jewelry_only": _metric_block(transfer - 0.012),
            "xdeepfm_transfer_no_item_vector": _metric_block(transfer - 0.006),
        },
        "temporal": {
            "popularity": _metric_block(0.03),
            "xdeepfm_transfer": _metric_block(0.035),
        },
        "comparison": {
            "cross_sell": {
                "metric": "ndcg@10", "model": "xdeepfm_transfer", "best_baseline": "popularity",
                "bootstrap": "paired, over test customers", "mean_a": transfer, "mean_b": best_baseline,
                "difference": transfer - best_baseline, "difference_ci_low": 0.004, "difference_ci_high": 0.031,
                "relative_improvement": (transfer - best_baseline) / best_baseline, "relative_ci_low": 0.08,
                "relative_ci_high": 0.71, "p_a_not_better": 0.012, "n_users": 412, "n_resamples": 1000,
            },
        },
        "protocol_notes": {
            "cross_sell": "held-out customers; source-domain history -> jewelry purchases; full jewelry catalog",
            "temporal": "last day of data as test; all earlier interactions as history",
        },
        "served_model_note": "served model = the evaluated cross-sell transfer model",
        "fast": False,
        "timings": {"total": 93.4},
    }


EPOCH_LOSSES = [
    {"series": "cross_sell/xdeepfm_transfer", "phase": "pretrain", "epoch": 1, "loss": 3.91, "seconds": 2.0},
    {"series": "cross_sell/xdeepfm_transfer", "phase": "finetune", "epoch": 1, "loss": 3.2, "seconds": 1.0},
    {"series": "cross_sell/xdeepfm_transfer", "phase": "finetune", "epoch": 2, "loss": 2.8, "seconds": 1.0},
    {"series": "cross_sell/xdeepfm_transfer", "phase": "finetune", "epoch": "best", "restored_epoch": 2},
]


def make_version(name: str, *, transfer: float = 0.061, active: bool = False, status: str = "ready", **extra) -> ModelVersion:
    fields = {"metrics": realistic_metrics(transfer) if status == "ready" else {},
              "epoch_losses": EPOCH_LOSSES if status == "ready" else [], "duration_seconds": 93.4,
              "config": {"lr": 0.003, "epochs_finetune": 12}, "data_snapshot": {"events": 1234, "jewelry_events": 87}}
    fields.update(extra)
    return ModelVersion.objects.create(name=name, status=status, is_active=active, **fields)


def csrf_post(client: Client, url: str, data: dict | None = None, **kwargs):
    page = client.get(reverse("dashboard:jobs"))
    token = str(page.context["csrf_token"])
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token}, **kwargs)


# --- model_reports (pure) -----------------------------------------------------------------


def test_model_reports_read_the_evaluation_report_shape():
    metrics = realistic_metrics()
    h = model_reports.headline(metrics)
    assert (h.transfer_ndcg, h.baseline, h.baseline_ndcg) == (0.061, "popularity", 0.044)
    assert h.transfer_recall == 0.0671 and h.beats_baseline is True
    tables = model_reports.metric_tables(metrics)
    assert [t.protocol for t in tables] == ["cross_sell", "temporal"]
    cross = tables[0]
    assert [r["model"] for r in cross.rows][:3] == ["xdeepfm_transfer", "xdeepfm_scratch_jewelry_only",
                                                  "xdeepfm_transfer_no_item_vector"]
    assert cross.columns[:2] == ["ndcg@10", "recall@10"] and cross.columns[-1] == "n_test_users"
    best = [c["metric"] for r in cross.rows for c in r["cells"] if c["best"] and r["model"] == "xdeepfm_transfer"]
    assert "ndcg@10" in best
    assert cross.comparison.startswith("cross_sell: xdeepfm_transfer vs best baseline popularity on ndcg@10: 0.0610 vs 0.0440")
    assert "[95% CI +0.0040, +0.0310]" in cross.comparison and "1000 paired bootstrap resamples over 412" in cross.comparison


def test_model_reports_match_the_real_evaluation_report():
    from recommender.ml.evaluation.protocols import ProtocolResult
    from recommender.ml.evaluation.report import EvaluationReport

    rng = np.random.default_rng(0)
    report = EvaluationReport()
    res = ProtocolResult("cross_sell", "notes", {"xdeepfm_transfer": _metric_block(0.06), "popularity": _metric_block(0.04)},
                         {"xdeepfm_transfer": rng.random(50), "popularity": rng.random(50)}, k=10)
    report.add(res, "xdeepfm_transfer", ("popularity", "als"), n_resamples=50)
    tables = model_reports.metric_tables(report.to_dict())
    assert tables[0].protocol == "cross_sell" and "paired bootstrap" in tables[0].comparison
    assert model_reports.headline(report.to_dict()).baseline == "popularity"


def test_loss_series_skip_best_markers_and_progress_rows():
    assert model_reports.loss_series(EPOCH_LOSSES) == {
        "cross_sell/xdeepfm_transfer pretrain": [(1, 3.91)],
        "cross_sell/xdeepfm_transfer finetune": [(1, 3.2), (2, 2.8)],
    }
    running = [{"at": 3.2, "message": "cross_sell: xdeepfm_transfer finetune epoch 1 loss 3.2000"}]
    assert model_reports.loss_series(running) == {}
    assert model_reports.progress_lines(running) == ["3.2s  cross_sell: xdeepfm_transfer finetune epoch 1 loss 3.2000"]


def test_metric_deltas_per_protocol_and_model():
    deltas = model_reports.metric_deltas(realistic_metrics(0.05), realistic_metrics(0.06))
    cross = deltas[0]
    assert cross["protocol"] == "cross_sell"
    transfer = next(r for r in cross["rows"] if r["model"] == "xdeepfm_transfer")
    ndcg = next(c for c in transfer["cells"] if c["metric"] == "ndcg@10")
    assert ndcg["a"] == 0.05 and ndcg["b"] == 0.06 and ndcg["delta"] == pytest.approx(0.01) and ndcg["direction"] == "up"


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["models", "model_compare", "model_rollback", "preview", "preview_customers",
                                  "preview_customer", "preview_items", "preview_home", "preview_feed",
                                  "embed_start", "train_start"])
def test_pages_need_staff(name, plain_user, client):
    url = reverse(f"dashboard:{name}")
    assert client.get(url).status_code == 302 and "/accounts/login/" in client.get(url)["Location"]
    client.force_login(plain_user)
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_posts_need_csrf(shop, staff_user):
    version = make_version("v-csrf")
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post(reverse("dashboard:model_promote", args=[version.pk])).status_code == 403
    assert client.post(reverse("dashboard:preview_assistant"), {"message": "gold ring"}).status_code == 403
    assert client.post(reverse("dashboard:train_start"), {}).status_code == 403
    version.refresh_from_db()
    assert version.is_active is False


# --- jobs: start forms ---------------------------------------------------------------------


def test_jobs_page_shows_both_start_forms_prefilled_with_defaults(staff_client):
    html = staff_client.get(reverse("dashboard:jobs")).content.decode()
    assert 'id="embed-form"' in html and 'id="train-form"' in html
    assert 'name="cin_layers" value="16,16"' in html and 'name="dnn_layers" value="64,32"' in html
    assert 'name="epochs_finetune" value="12"' in html


def _train_data(**overrides) -> dict:
    data = {"lr": "0.003", "finetune_lr": "0.001", "batch_size": "256", "epochs_pretrain": "1", "epochs_finetune": "2",
            "embed_dim": "16", "cin_layers": "16,16", "dnn_layers": "64,32", "dropout": "0.1", "negatives": "32",
            "freeze_on_finetune": "on", "fast": "on"}
    data.update(overrides)
    return data


def test_train_form_starts_a_run_and_redirects_to_its_job(staff_client, django_capture_on_commit_callbacks):
    with mock.patch("recommender.jobs.services.current_app.send_task") as send, \
            django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("dashboard:train_start"), _train_data(cin_layers="8, 4"))
    version = ModelVersion.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:job_detail", args=[version.job_id])
    assert version.config["cin_layers"] == [8, 4] and version.config["epochs_finetune"] == 2
    assert version.job.params["fast"] is True
    send.assert_called_once_with("recommender.tasks.training.train_model_task", args=[version.job_id])


@pytest.mark.parametrize("field,value,message", [
    ("dropout", "0.95", "dropout must be in [0, 0.9], got 0.95"),
    ("batch_size", "1", "batch_size must be in [2, 65536], got 1"),
    ("cin_layers", "16,0", "cin_layers must be a list of layer sizes in [1, 4096]"),
    ("cin_layers", "16,x", "Use whole numbers separated by commas"),
])
def test_train_form_shows_the_service_error_on_its_field(staff_client, field, value, message):
    response = staff_client.post(reverse("dashboard:train_start"), _train_data(**{field: value}))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not ModelVersion.objects.exists() and not Job.objects.exists()


def test_train_form_both_epochs_zero_is_a_form_error(staff_client):
    response = staff_client.post(reverse("dashboard:train_start"), _train_data(epochs_pretrain="0", epochs_finetune="0"))
    assert "cannot both be 0" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_train_form_says_a_run_is_already_in_progress(staff_client):
    running = Job.objects.create(kind=Job.Kind.TRAIN, status=Job.Status.RUNNING)
    response = staff_client.post(reverse("dashboard:train_start"), _train_data())
    html = response.content.decode()
    assert response.status_code == 200
    assert f"A training run is already in progress (job #{running.pk})" in html
    assert reverse("dashboard:job_detail", args=[running.pk]) in html
    assert not ModelVersion.objects.exists()
    assert issubclass(TrainingAlreadyRunning, RuntimeError)


def test_embed_form_queues_a_job_or_shows_the_running_one(staff_client, django_capture_on_commit_callbacks):
    with mock.patch("recommender.jobs.services.current_app.send_task") as send:
        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(reverse("dashboard:embed_start"), {"scope": "interacted", "refit_fusion": "on"})
        job = Job.objects.get(kind=Job.Kind.EMBED_CATALOG)
        assert response["Location"] == reverse("dashboard:job_detail", args=[job.pk])
        assert job.params == {"scope": "interacted", "force": False, "refit_fusion": True}
        send.assert_called_once_with("recommender.tasks.embedding.embed_catalog_task", args=[job.pk])
        # A second click while it is queued leads to the same job.
        again = staff_client.post(reverse("dashboard:embed_start"), {"scope": "all"}, follow=True)
    assert Job.objects.filter(kind=Job.Kind.EMBED_CATALOG).count() == 1
    assert "already queued" in again.content.decode()
    bad = staff_client.post(reverse("dashboard:embed_start"), {"scope": "galaxy"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()


# --- models --------------------------------------------------------------------------------


def test_models_list_shows_headline_numbers_and_active_badge(staff_client):
    make_version("xdeepfm-old", transfer=0.05)
    make_version("xdeepfm-new", transfer=0.061, active=True)
    make_version("xdeepfm-broken", status="failed", error="DatasetTooSmall: 3 jewelry interactions")
    response = staff_client.get(reverse("dashboard:models"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "xdeepfm-old" in html and "xdeepfm-broken" in html
    assert '<span class="badge badge-active">active</span>' in html
    # the verdict in plain words, and the blend's seeded NDCG@10 against the best baseline
    assert "beats baselines" in html and "0.1250" in html and "vs channel_popularity" in html
    assert "on customers held out of training, over several seeded splits" in html


def test_models_list_query_count_is_bounded(staff_client, django_assert_max_num_queries):
    for i in range(12):
        make_version(f"v{i:02d}")
    with django_assert_max_num_queries(10):
        assert staff_client.get(reverse("dashboard:models")).status_code == 200


def test_model_detail_full_tables_losses_config_and_error(staff_client):
    version = make_version("xdeepfm-detail")
    html = staff_client.get(reverse("dashboard:model_detail", args=[version.pk])).content.decode()
    for model in ("xdeepfm_transfer", "xdeepfm_scratch_jewelry_only", "xdeepfm_transfer_no_item_vector",
                  "popularity", "recency_popularity", "item_knn", "als", "content"):
        assert f'title="cross_sell · {model} · ndcg@10"' in html
    assert 'title="temporal · xdeepfm_transfer · recall@10"' in html
    assert "Comparison (cross_sell):" in html and "95% CI +0.0040, +0.0310" in html
    assert 'id="loss-figure"' in html and "cross_sell/xdeepfm_transfer finetune" in html
    assert "&quot;epochs_finetune&quot;: 12" in html or '"epochs_finetune": 12' in html
    assert "jewelry_events" in html
    failed = make_version("xdeepfm-failed", status="failed", error="TrainingDiverged: loss became NaN at epoch 3")
    failed_html = staff_client.get(reverse("dashboard:model_detail", args=[failed.pk])).content.decode()
    assert "TrainingDiverged: loss became NaN at epoch 3" in failed_html
    assert "Promote</button>" not in failed_html


def test_model_detail_while_training_shows_the_epoch_log(staff_client):
    job = Job.objects.create(kind=Job.Kind.TRAIN, status=Job.Status.RUNNING)
    version = ModelVersion.objects.create(name="xdeepfm-running", job=job, epoch_losses=[
        {"at": 4.1, "message": "cross_sell: xdeepfm_transfer pretrain epoch 1 loss 3.9000"}])
    html = staff_client.get(reverse("dashboard:model_detail", args=[version.pk])).content.decode()
    assert "Training in progress" in html and "pretrain epoch 1 loss 3.9000" in html
    assert reverse("dashboard:job_detail", args=[job.pk]) in html


def test_promote_asks_first_then_promotes_on_post(staff_client, staff_user):
    old = make_version("xdeepfm-a", active=True)
    new = make_version("xdeepfm-b")
    url = reverse("dashboard:model_promote", args=[new.pk])
    confirm = staff_client.get(url)
    assert confirm.status_code == 200 and "Promote xdeepfm-b?" in confirm.content.decode()
    new.refresh_from_db()
    assert new.is_active is False  # a GET changes nothing
    response = staff_client.post(url)
    assert response.status_code == 302
    new.refresh_from_db()
    old.refresh_from_db()
    assert new.is_active and not old.is_active
    event = PromotionEvent.objects.get(version=new)
    assert event.previous == old and event.user == staff_user and event.action == "promote"


def test_promote_refuses_unfinished_versions_and_changes_nothing(staff_client):
    active = make_version("xdeepfm-a", active=True)
    failed = make_version("xdeepfm-f", status="failed")
    response = staff_client.post(reverse("dashboard:model_promote", args=[failed.pk]), follow=True)
    assert "only a ready version can be promoted" in response.content.decode()
    active.refresh_from_db()
    assert active.is_active and not PromotionEvent.objects.exists()


def test_rollback_confirmation_then_restore_previous(staff_client):
    first = make_version("xdeepfm-1")
    second = make_version("xdeepfm-2")
    staff_client.post(reverse("dashboard:model_promote", args=[first.pk]))
    staff_client.post(reverse("dashboard:model_promote", args=[second.pk]))
    confirm = staff_client.get(reverse("dashboard:model_rollback")).content.decode()
    assert "Rolling back re-activates xdeepfm-1" in confirm
    response = staff_client.post(reverse("dashboard:model_rollback"), follow=True)
    assert "xdeepfm-1 is the active model again" in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.is_active and not second.is_active


def test_rollback_without_history_is_a_clear_message(staff_client):
    make_version("xdeepfm-only", active=True)
    response = staff_client.post(reverse("dashboard:model_rollback"), follow=True)
    assert "has no earlier active version to roll back to" in response.content.decode()
    assert ModelVersion.objects.get().is_active


def test_compare_two_versions_with_deltas(staff_client):
    a = make_version("xdeepfm-a", transfer=0.05)
    b = make_version("xdeepfm-b", transfer=0.06, config={"lr": 0.001, "epochs_finetune": 12})
    response = staff_client.get(reverse("dashboard:model_compare"), {"a": a.pk, "b": b.pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-delta="0.01' in html and "delta-up" in html
    assert "+0.0100" in html
    assert '<tr class="changed"><td class="mono">lr</td>' in html
    assert staff_client.get(reverse("dashboard:model_compare"), {"a": 999999, "b": b.pk}).context["form"].errors["a"]


# --- preview -------------------------------------------------------------------------------


@pytest.fixture
def preview(staff_client, shop):
    serving_catalog_invalidate()
    model_store_reset()
    return staff_client


def test_preview_page_is_a_light_shell(preview, django_assert_max_num_queries):
    make_version("xdeepfm-a", active=True)
    with django_assert_max_num_queries(8):
        response = preview.get(reverse("dashboard:preview"), {"customer": "c-gold"})
    html = response.content.decode()
    assert response.status_code == 200
    for key in ("home", "cross_sell", "member_exclusive", "feed", "similar", "assistant", "image_search"):
        assert f'data-panel="{key}"' in html
    assert reverse("dashboard:rules") in html and 'data-customer="c-gold"' in html
    assert '<option value="xdeepfm-a"' in html


def test_customer_prefix_search_with_tiers(preview):
    html = preview.get(reverse("dashboard:preview_customers"), {"q": "c-"}).content.decode()
    assert "c-gold" in html and "c-plat" in html and "buyer-0" not in html
    assert "Gold" in html and "Platinum" in html
    assert "No customer id starts with" in preview.get(reverse("dashboard:preview_customers"), {"q": "zzz"}).content.decode()


def test_random_customer_has_jewelry_history(preview):
    response = preview.get(reverse("dashboard:preview_random_customer"))
    assert response.status_code == 302
    assert "customer=buyer-" in response["Location"]  # only buyers have jewelry events


def test_customer_panel_shows_tier_and_history(preview):
    html = preview.get(reverse("dashboard:preview_customer"), {"customer": "buyer-0"}).content.decode()
    assert "Gold hoops" in html and "Denim jeans" in html and "Jewelry 1" in html
    unknown = preview.get(reverse("dashboard:preview_customer"), {"customer": "ghost"})
    assert unknown.status_code == 404 and "Unknown customer" in unknown.content.decode()


def test_home_fragment_items_with_reason_and_score(preview):
    response = preview.get(reverse("dashboard:preview_home"), {"customer": "c-none", "k": "3"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="rec"') == 3
    assert 'data-item-id="J001"' in html and "data-score" in html and 'class="rec-reason"' in html
    earrings = preview.get(reverse("dashboard:preview_home"), {"type": "Earring", "k": "10"}).content.decode()
    assert 'data-item-id="J001"' in earrings and 'data-item-id="J003"' not in earrings


def test_home_fragment_bad_input_shows_the_service_message(preview):
    response = preview.get(reverse("dashboard:preview_home"), {"type": "spaceship"})
    assert response.status_code == 404 and "Unknown product type" in response.content.decode()  # like the API
    unknown_version = preview.get(reverse("dashboard:preview_home"), {"customer": "buyer-0", "a": "nope"})
    assert unknown_version.status_code == 404 and "Unknown or unfinished model version" in unknown_version.content.decode()


def test_cross_sell_never_returns_the_cart(preview):
    assert "cart is empty" in preview.get(reverse("dashboard:preview_cross_sell")).content.decode()
    html = preview.get(reverse("dashboard:preview_cross_sell"), {"items": "J001,J003", "customer": "c-none"}).content.decode()
    assert 'class="rec"' in html
    assert 'data-item-id="J001"' not in html and 'data-item-id="J003"' not in html
    bad = preview.get(reverse("dashboard:preview_cross_sell"), {"items": "NOPE"})
    assert bad.status_code == 404 and "Unknown item id" in bad.content.decode()


def test_member_exclusive_for_members_and_what_a_member_would_see_for_others(preview):
    gold = preview.get(reverse("dashboard:preview_member_exclusive"), {"customer": "c-gold"}).content.decode()
    assert 'data-item-id="J101"' in gold and 'data-item-id="J102"' in gold and 'data-item-id="J103"' not in gold
    assert "data-notice" not in gold
    # A shopper without a tier is information, not an error: 200, a notice, and the first
    # tier's exclusives (J101 is silver; gold and platinum stay hidden).
    response = preview.get(reverse("dashboard:preview_member_exclusive"), {"customer": "c-none"})
    html = response.content.decode()
    assert response.status_code == 200
    assert ('<p class="info-note" role="status" data-notice>This customer has no membership tier, so the storefront '
            "shows them no member-exclusive items. Below: what a Silver member with the same history would see.</p>") in html
    assert 'class="form-errors"' not in html and 'role="alert"' not in html
    assert 'data-item-id="J101"' in html and 'data-item-id="J102"' not in html and 'data-item-id="J103"' not in html
    assert "choose a customer first" in preview.get(reverse("dashboard:preview_member_exclusive")).content.decode()


def test_the_api_still_refuses_member_exclusives_to_non_members(preview):
    from recommender.serving import scenarios
    from recommender.serving.errors import NotEntitledError

    with pytest.raises(NotEntitledError):
        scenarios.recommend_member_exclusive(scenarios.Request(customer_id="c-none", k=5))


def test_feed_pages_follow_the_cursor_without_repeats(preview):
    first = preview.get(reverse("dashboard:preview_feed"), {"customer": "c-none", "k": "2"})
    html = first.content.decode()
    assert html.count('class="rec"') == 2 and "load-more" in html
    more_url = html.split('data-more-url="')[1].split('"')[0].replace("&amp;", "&")
    second = preview.get(more_url).content.decode()
    assert 'class="ab-columns' not in second  # appended rows only
    ids_first = {s.split('"')[0] for s in html.split('data-item-id="')[1:]}
    ids_second = {s.split('"')[0] for s in second.split('data-item-id="')[1:]}
    assert len(ids_second) == 2 and not ids_first & ids_second


def test_similar_items_for_a_chosen_item(preview):
    html = preview.get(reverse("dashboard:preview_similar"), {"item": "J001"}).content.decode()
    assert "Items similar to <strong>Gold hoops</strong>" in html
    assert 'class="rec"' in html and 'data-item-id="J001"' not in html  # never the anchor itself
    assert "Choose an item" in preview.get(reverse("dashboard:preview_similar")).content.decode()


def test_item_picker_by_id_prefix_and_title(preview):
    by_id = preview.get(reverse("dashboard:preview_items"), {"q": "J00"}).content.decode()
    assert 'data-add-cart="J001"' in by_id and 'data-similar="J004"' in by_id and "G001" not in by_id
    by_title = preview.get(reverse("dashboard:preview_items"), {"q": "hoops"}).content.decode()
    assert 'data-add-cart="J001"' in by_title and 'data-add-cart="J002"' not in by_title


def test_rules_change_the_preview(preview):
    before = preview.get(reverse("dashboard:preview_home"), {"customer": "c-none", "k": "3"}).content.decode()
    assert before.index('data-item-id="J001"') < before.index('rules-note')
    assert 'data-item-id="J005"' not in before
    MerchandisingRule.objects.create(name="pin cuff", action="pin", target="item", value="J005", position=1,
                                     scenarios=["home"])
    after = preview.get(reverse("dashboard:preview_home"), {"customer": "c-none", "k": "3"}).content.decode()
    first = after.split('data-item-id="')[1].split('"')[0]
    assert first == "J005"
    assert "1 active merchandising rule applies to this scenario" in after


def test_ab_columns_use_each_model_version(preview):
    with mock.patch("recommender.serving.scenarios.recommend_home", wraps=__import__(
            "recommender.serving.scenarios", fromlist=["x"]).recommend_home) as home:
        with mock.patch("recommender.serving.scenarios.active_ranker", return_value=None):
            html = preview.get(reverse("dashboard:preview_home"), {"customer": "buyer-0", "a": "", "b": "xdeepfm-x"}).content.decode()
    assert [c.args[0].model_version for c in home.call_args_list] == [None, "xdeepfm-x"]
    assert 'data-column="A"' in html and 'data-column="B"' in html and "ab-2" in html


def test_scenario_fragments_query_counts_are_bounded(preview, django_assert_max_num_queries):
    preview.get(reverse("dashboard:preview_home"), {"customer": "c-gold"})  # warm the serving catalog
    for name, params in [("preview_home", {"customer": "c-gold", "k": "5"}),
                         ("preview_cross_sell", {"customer": "c-gold", "items": "J001"}),
                         ("preview_member_exclusive", {"customer": "c-gold"}),
                         ("preview_feed", {"customer": "c-gold"}),
                         ("preview_similar", {"item": "J001"}),
                         ("preview_customer", {"customer": "buyer-1"}),
                         ("preview_items", {"q": "gold"}),
                         ("preview_customers", {"q": "c-"})]:
        with django_assert_max_num_queries(15):
            assert preview.get(reverse(f"dashboard:{name}"), params).status_code == 200, name


def test_image_search_without_a_photo_is_a_clear_error(preview):
    response = preview.post(reverse("dashboard:preview_image_search"), {})
    assert response.status_code == 400 and "Choose a photo" in response.content.decode()


def test_assistant_empty_message_is_a_field_error(preview):
    response = preview.post(reverse("dashboard:preview_assistant"), {"message": "  "})
    assert response.status_code == 400 and "message must not be empty" in response.content.decode()


@pytest.mark.slow
def test_assistant_answers_with_items(preview, shop):
    from tests.api.shop_vectors import shop_vectors_install  # real encoders, once per session

    shop_vectors_install(shop)
    response = preview.post(reverse("dashboard:preview_assistant"), {"message": "gold earrings", "customer": "c-none"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "data-answer" in html and 'class="rec"' in html


@pytest.mark.slow
def test_visual_search_finds_the_item_of_the_photo(preview, shop):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.api.shop_vectors import PHOTOS, data_path, shop_vectors_install

    shop_vectors_install(shop)
    photo = SimpleUploadedFile("chain.jpg", data_path(PHOTOS["chain"]).read_bytes(), content_type="image/jpeg")
    response = preview.post(reverse("dashboard:preview_image_search"), {"image": photo, "k": "3"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.split('data-item-id="')[1].split('"')[0] == "J003"  # the chain necklace itself ranks first


def test_model_detail_says_in_plain_words_whether_it_beats_the_baselines(staff_client):
    good = make_version("blend-good")
    html = staff_client.get(reverse("dashboard:model_detail", args=[good.pk])).content.decode()
    assert "Beats the baselines" in html and "It beats the best simple baseline on intent" in html
    assert "0.1250 ± 0.0020" in html and "0.1080 ± 0.0020" in html  # blend vs channel popularity, mean ± spread
    assert "How high the items a customer really bought sit in the top 10" in html  # help for NDCG@10
    bad = make_version("blend-bad", metrics=realistic_metrics(blend=0.107))
    html = staff_client.get(reverse("dashboard:model_detail", args=[bad.pk])).content.decode()
    assert "Does not beat the baselines" in html and "never promoted automatically" in html
    assert "Promote anyway…" in html and "Promote</button>" not in html
    legacy = make_version("xdeepfm-legacy", metrics={"cross_sell": {"popularity": _metric_block(0.04)}})
    html = staff_client.get(reverse("dashboard:model_detail", args=[legacy.pk])).content.decode()
    assert "Not compared with the baselines" in html


def test_promoting_a_version_that_did_not_beat_the_baselines_asks_twice(staff_client, staff_user):
    active = make_version("blend-active", active=True)
    worse = make_version("blend-worse", metrics=realistic_metrics(blend=0.107))
    url = reverse("dashboard:model_promote", args=[worse.pk])
    first = staff_client.post(url)  # a plain "Promote" is not enough
    page = first.content.decode()
    assert first.status_code == 200 and "did not earn its place" in page and "Promote anyway" in page
    assert 'name="confirm" value="worse"' in page
    worse.refresh_from_db()
    assert not worse.is_active and not PromotionEvent.objects.filter(version=worse).exists()
    second = staff_client.post(url, {"confirm": "worse"})
    assert second.status_code == 302
    worse.refresh_from_db()
    active.refresh_from_db()
    assert worse.is_active and not active.is_active
    assert "did not pass the gate" in PromotionEvent.objects.get(version=worse).note


def test_models_list_says_what_serves_now(staff_client, settings, tmp_path):
    settings.JEWELREC_ARTIFACT_DIR = tmp_path
    html = staff_client.get(reverse("dashboard:models")).content.decode()
    assert "Serving now: popularity and item vectors" in html
    from recommender.ml.common.artifacts import pointer_write

    pointer_write(tmp_path / "heuristic", {"name": "heuristic-blend-20261206-120000", "path": str(tmp_path),
                                           "built_at": "2026-12-06T12:00:00+00:00", "events": 236450})
    html = staff_client.get(reverse("dashboard:models")).content.decode()
    assert "Serving now: <strong>heuristic-blend-20261206-120000</strong>" in html and "236450 events" in html
    active = make_version("blend-live", active=True)
    html = staff_client.get(reverse("dashboard:models")).content.decode()
    assert f"Serving now: <a href=\"{reverse('dashboard:model_detail', args=[active.pk])}\">blend-live</a>" in html


def test_preview_has_a_search_panel(preview):
    page = preview.get(reverse("dashboard:preview")).content.decode()
    assert 'data-panel="search"' in page and 'data-url="/preview/search/"' in page
    empty = preview.get(reverse("dashboard:preview_search")).content.decode()
    assert "Type what a shopper would search for" in empty
    html = preview.get(reverse("dashboard:preview_search"), {"q": "gold ring"}).content.decode()
    assert "Results for “gold ring”" in html and 'class="rec' in html


def test_side_by_side_columns_mark_what_differs():
    from django.template.loader import render_to_string

    from recommender.dashboard.views.preview import Column, mark_differences
    from recommender.serving.results import RecommendationResult, RecommendedItem

    def result(ids):
        return RecommendationResult("home", [RecommendedItem(i, i, "Ring", 1.0, "EUR", "", 1.0, "") for i in ids], "v", True, True)

    a, b = Column("A", "v1", result(["x", "y", "z"])), Column("B", "v2", result(["y", "x", "q"]))
    mark_differences([a, b])
    html = render_to_string("dashboard/preview/_result.html", {"columns": [a, b], "scenario": "home"})
    col_a, col_b = html.split('data-column="A"', 1)[1].split('data-column="B"', 1)
    assert 'data-item-id="x" data-diff="up"' in col_a and 'data-item-id="z" data-diff="only"' in col_a
    assert '<span class="diff-badge diff-only">only here</span>' in col_b and 'data-item-id="q" data-diff="only"' in col_b
    single = Column("A", "v1", result(["x"]))
    mark_differences([single])
    assert single.marks == {}
