"""``AbstractUser`` with a ``BigAutoField`` key: Django's own user, every field and the default manager, as
a project that swapped it only for a wider ``id``. ``AUTH_USER_MODEL=bigusers.User`` selects it."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    id = models.BigAutoField(primary_key=True)
