import os

from django.core.wsgi import get_wsgi_application

from echopilot.env import exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echopilot.settings")

# A bad environment value: one line naming it, and gunicorn stops with "App failed to load" (its exit status 4).
exit_on_configuration_error(status=4)
application = get_wsgi_application()
