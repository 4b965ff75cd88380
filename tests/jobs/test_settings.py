import pytest

from core.settings import Settings


def test_defaults_and_embedded_urls(monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("DCGAN_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.embedded
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path / 'celery-broker.sqlite3'}"
    settings.check_worker_limits()  # the defaults are consistent


def test_redis_url_switches_off_the_embedded_mode(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/2")
    settings = Settings()
    assert not settings.embedded and settings.broker_url == "redis://example:6379/2"


def test_a_visibility_timeout_shorter_than_a_job_is_refused(monkeypatch):
    monkeypatch.setenv("DCGAN_MAX_JOB_SECONDS", "7200")
    monkeypatch.setenv("DCGAN_VISIBILITY_TIMEOUT_SECONDS", "3600")
    with pytest.raises(ValueError, match="must be longer than DCGAN_MAX_JOB_SECONDS"):
        Settings().check_worker_limits()


def test_retention_keeps_twenty_finished_jobs_unless_told_otherwise(monkeypatch):
    assert Settings().keep_finished_jobs == 20
    monkeypatch.setenv("DCGAN_KEEP_FINISHED_JOBS", "3")
    assert Settings().keep_finished_jobs == 3
    monkeypatch.setenv("DCGAN_KEEP_FINISHED_JOBS", "")
    assert Settings().keep_finished_jobs is None  # keep everything
    monkeypatch.setenv("DCGAN_KEEP_FINISHED_JOBS", "0")
    with pytest.raises(ValueError):
        Settings()
