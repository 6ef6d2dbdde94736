"""A locustfile whose one User does nothing but wait: the plugin's own cost (its
remotes' polls, the CSV) is then nearly all the Locust process does (bench_remotes.py)."""

from locust import User, constant, task

from harness.load import plugin  # noqa: F401  (the --socklife-* arguments)


class Idle(User):
    wait_time = constant(1)

    @task
    def nothing(self):
        pass
