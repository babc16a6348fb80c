from django.urls import path

from . import views

app_name = "api"

urlpatterns = [
    path("recommendations/home", views.HomeView.as_view(), name="home"),
    path("recommendations/cross-sell", views.CrossSellView.as_view(), name="cross-sell"),
    path("recommendations/member-exclusive", views.MemberExclusiveView.as_view(), name="member-exclusive"),
    path("feed", views.FeedView.as_view(), name="feed"),
    path("items/<str:item_id>/similar", views.SimilarView.as_view(), name="similar"),
    path("search", views.SearchView.as_view(), name="search"),
    path("search/image", views.ImageSearchView.as_view(), name="search-image"),
    path("assistant", views.AssistantView.as_view(), name="assistant"),
    path("events", views.EventsView.as_view(), name="events"),
    path("ping", views.PingView.as_view(), name="ping"),
]
