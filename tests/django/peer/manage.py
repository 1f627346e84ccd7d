#!/usr/bin/env python
"""The peer Django project's manage.py. Every setting comes from the environment (see peer/settings.py)."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
