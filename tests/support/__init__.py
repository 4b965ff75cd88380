"""Test machinery shared across the suite: real servers and fixtures that tests start for
themselves, readers of the Dockerfile, .dockerignore and compose files, and an HTTP stub."""
