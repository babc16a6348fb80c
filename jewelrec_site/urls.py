from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from jewelrec_site import handlers

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("recommender.api.urls")),
    # The schema and its Swagger UI are public on purpose: they are the storefront's contract and
    # reveal nothing an API key does not; every operation still needs a key. The split view
    # serves its start-up script as a file, so the page runs under the strict CSP.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^api/", handlers.api_not_found, name="api-not-found"),  # everything else under /api/: JSON 404
    path("", include("recommender.dashboard.urls")),
]

handler400 = handlers.bad_request
handler403 = handlers.permission_denied
handler404 = handlers.page_not_found
handler500 = handlers.server_error

# Media (uploaded photos). In production a web server or object store serves these; the
# embedded setup serves them from Django so a laptop needs nothing else.
if settings.DEBUG or getattr(settings, "JEWELREC_SERVE_MEDIA", False):
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT})]
