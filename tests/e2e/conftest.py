import pytest

from tests.support.stack import Stack, running_stack

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def redis_stack(tmp_path_factory, data_dir):
    with running_stack(tmp_path_factory.mktemp("redis-stack"), REDIS_URL) as stack:
        yield stack


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Stack):
                report.sections.append(("stack logs", value.logs()))
