"""Deployment files: Dockerfile, .dockerignore, docker-compose.yml and its CPU override."""
