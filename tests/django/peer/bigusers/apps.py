from django.apps import AppConfig


class BigusersConfig(AppConfig):
    name = "bigusers"
