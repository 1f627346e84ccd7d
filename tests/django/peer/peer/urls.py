"""URLs of the peer site (peer.site_settings): Django's admin and auth views at their usual places, and the
JSON views the cross-service suite reads (peerapp/views.py)."""

from django.contrib import admin
from django.urls import include, path

from peerapp import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("whoami/", views.whoami),
    path("plain/", views.plain),
    path("session/rich/", views.rich_session),
    path("csrf/", views.csrf_protected),
]
