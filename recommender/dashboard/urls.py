from django.urls import path

from .views import api_keys, catalog, charts, jobs, overview, rules, settings

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
    path("jobs/<int:job_id>/", jobs.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/status.json", jobs.job_status, name="job_status"),
    path("jobs/<int:job_id>/cancel/", jobs.job_cancel, name="job_cancel"),
    # rules
    path("rules/", rules.rule_list, name="rules"),
    path("rules/new/", rules.rule_new, name="rule_new"),
    path("rules/<int:rule_id>/edit/", rules.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/delete/", rules.rule_delete_view, name="rule_delete"),
    # dashboards
    path("dashboards/", charts.charts_page, name="charts"),
    path("dashboards/figures/<slug:name>.json", charts.figure_json, name="figure"),
    # api keys
    path("api-keys/", api_keys.api_key_list, name="api_keys"),
    path("api-keys/new/", api_keys.api_key_new, name="api_key_new"),
    path("api-keys/<int:key_id>/created/", api_keys.api_key_created, name="api_key_created"),
    path("api-keys/<int:key_id>/revoke/", api_keys.api_key_revoke_view, name="api_key_revoke"),
    # settings
    path("settings/", settings.settings_page, name="settings"),
    path("settings/schedule/", settings.schedule_update, name="schedule_update"),
]
