"""The peer project served over HTTP (`manage.py runserver`), as a user's Django site beside our services.

Everything in `peer.settings` (read from the same environment variables as the portal and the api), plus
what a Django site has that the JSON-lines peer does not need: the admin, the middleware of `startproject`,
the auth views (login, logout, password change and reset) and a few JSON views for the cross-service suite
(`peerapp/views.py`). Extra variables: `EMAIL_FILE_PATH` (where the reset mails go; the file backend).
"""

import os

from .settings import *  # noqa: F401,F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = ["django.contrib.admin", *INSTALLED_APPS, "django.contrib.messages"]

# startproject's list, without the clickjacking and security headers (they change nothing here).
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "peer.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]
STATIC_URL = "static/"
LOGIN_REDIRECT_URL = "/whoami/"
LOGOUT_REDIRECT_URL = None
SESSION_SAVE_EVERY_REQUEST = os.environ.get("SESSION_SAVE_EVERY_REQUEST", "").lower() in ("1", "true", "yes", "on")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", "")
