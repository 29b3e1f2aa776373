#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echopilot.settings")
    from django.core.management import execute_from_command_line

    from echopilot.env import exit_on_configuration_error

    exit_on_configuration_error()  # a bad environment value: one line naming it, no traceback
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
