from django.urls import path

from .views import api_keys, catalog, charts, experiments, jobs, models, overview, preview, rules, search, settings

app_name = "dashboard"

urlpatterns = [
    path("", overview.home, name="home"),
    # catalog
    path("catalog/", catalog.item_list, name="catalog"),
    path("catalog/new/", catalog.item_new, name="item_new"),
    path("catalog/import/", catalog.catalog_import, name="catalog_import"),
    path("catalog/items/<int:item_id>/", catalog.item_detail, name="item_detail"),
    path("catalog/items/<int:item_id>/photos/", catalog.item_photo_upload, name="item_photo_upload"),
    path("catalog/items/<int:item_id>/photos/reorder/", catalog.item_photo_reorder, name="item_photo_reorder"),
    path("catalog/items/<int:item_id>/photos/<int:image_id>/delete/", catalog.item_photo_delete, name="item_photo_delete"),
    # jobs
    path("jobs/", jobs.job_list, name="jobs"),
    path("jobs/embed/", jobs.embed_start, name="embed_start"),
    path("jobs/train/", jobs.train_start, name="train_start"),
    path("jobs/<int:job_id>/", jobs.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/status.json", jobs.job_status, name="job_status"),
    path("jobs/<int:job_id>/cancel/", jobs.job_cancel, name="job_cancel"),
    # models
    path("models/", models.model_list, name="models"),
    path("models/compare/", models.model_compare, name="model_compare"),
    path("models/rollback/", models.model_rollback, name="model_rollback"),
    path("models/<int:version_id>/", models.model_detail, name="model_detail"),
    path("models/<int:version_id>/promote/", models.model_promote, name="model_promote"),
    # preview
    path("preview/", preview.preview_page, name="preview"),
    path("preview/customers/", preview.customer_search, name="preview_customers"),
    path("preview/customers/random/", preview.customer_random, name="preview_random_customer"),
    path("preview/customer/", preview.customer_panel, name="preview_customer"),
    path("preview/items/", preview.item_picker, name="preview_items"),
    path("preview/home/", preview.scenario_home, name="preview_home"),
    path("preview/cross-sell/", preview.scenario_cross_sell, name="preview_cross_sell"),
    path("preview/member-exclusive/", preview.scenario_member_exclusive, name="preview_member_exclusive"),
    path("preview/feed/", preview.scenario_feed, name="preview_feed"),
    path("preview/similar/", preview.scenario_similar, name="preview_similar"),
    path("preview/search/", preview.scenario_search, name="preview_search"),
    path("preview/assistant/", preview.scenario_assistant, name="preview_assistant"),
    path("preview/image-search/", preview.scenario_image_search, name="preview_image_search"),
    # rules
    path("rules/", rules.rule_list, name="rules"),
    path("rules/new/", rules.rule_new, name="rule_new"),
    path("rules/preview/", rules.rule_preview, name="rule_preview"),
    path("rules/<int:rule_id>/edit/", rules.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/delete/", rules.rule_delete_view, name="rule_delete"),
    # search vocabulary
    path("search/", search.vocabulary_page, name="search_vocabulary"),
    path("search/synonyms/", search.synonym_add, name="search_synonym_add"),
    path("search/synonyms/<int:synonym_id>/delete/", search.synonym_delete, name="search_synonym_delete"),
    # dashboards
    path("dashboards/", charts.charts_page, name="charts"),
    path("dashboards/figures/<slug:name>.json", charts.figure_json, name="figure"),
    # live metrics and A/B experiments
    path("experiments/", experiments.experiment_list, name="experiments"),
    path("experiments/new/", experiments.experiment_new, name="experiment_new"),
    path("experiments/<int:experiment_id>/", experiments.experiment_detail, name="experiment_detail"),
    path("experiments/<int:experiment_id>/stop/", experiments.experiment_stop_view, name="experiment_stop"),
    path("experiments/<int:experiment_id>/promote/", experiments.experiment_promote_view, name="experiment_promote"),
    # api keys
    path("api-keys/", api_keys.api_key_list, name="api_keys"),
    path("api-keys/new/", api_keys.api_key_new, name="api_key_new"),
    path("api-keys/<int:key_id>/created/", api_keys.api_key_created, name="api_key_created"),
    path("api-keys/<int:key_id>/revoke/", api_keys.api_key_revoke_view, name="api_key_revoke"),
    # settings
    path("settings/", settings.settings_page, name="settings"),
    path("settings/schedule/", settings.schedule_update, name="schedule_update"),
]
