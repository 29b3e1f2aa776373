"""Tasks of the fraud guard (run by django-q2's cluster)."""

from fraud.rulesets import backtest_job_run


def backtest_run(pk: int) -> None:
    """A queued backtest (``fraud.rulesets.backtest_job_create``)."""
    backtest_job_run(pk)
