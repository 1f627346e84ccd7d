from django.apps import AppConfig


class EmailusersConfig(AppConfig):
    name = "emailusers"
