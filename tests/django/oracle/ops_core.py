"""Operations on Django itself: versions, signing, session codecs, CSRF, reset tokens."""

from .registry import op


@op("version")
def version():
    import sys

    import django

    return {"django": django.get_version(), "python": sys.version.split()[0]}
