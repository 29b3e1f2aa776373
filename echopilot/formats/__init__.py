"""Django format modules (FORMAT_MODULE_PATH): the admin shows dates in the one style of ``echopilot.timefmt``."""
