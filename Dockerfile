# syntax=docker/dockerfile:1
# One image for every process of the service; compose picks the command:
#   API (default)  dcgan serve --host 0.0.0.0 --port 8000
#   worker         dcgan worker
#   migrations     dcgan db upgrade
#   Flower         dcgan flower --port=5555
# torch/torchvision from PyPI are the CUDA builds on linux x86_64 (~5.5 GB): the worker uses
# a GPU when the container is given one and the CPU otherwise.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- requirements: the dependency list alone. Edits elsewhere in pyproject.toml (version,
# tool settings) give the same requirements.txt, so the dependency layer stays cached.
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep=chr(10))" > requirements.txt

# --- builder: a virtual environment with the dependencies first, then the application.
FROM ${PYTHON_IMAGE} AS builder
ARG FLOWER_VERSION=2.2.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
COPY --from=requirements /src/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt "flower==${FLOWER_VERSION}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared_models ./shared_models
COPY jobs ./jobs
COPY dcgan_cli ./dcgan_cli
COPY service ./service
COPY worker ./worker
RUN pip install --no-deps . && pip check

# --- runtime: the virtual environment, Debian's Fashion-MNIST and an unprivileged user.
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="dcgan-service" \
      org.opencontainers.image.description="PyTorch DCGAN (CNTK 206B): FastAPI service and Celery training worker"
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist=0.0~git20200523.55506a9-1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 dcgan \
    && useradd --system --no-log-init --uid 10001 --gid dcgan --create-home --home-dir /home/dcgan dcgan \
    && install -d -o dcgan -g dcgan -m 0755 /data /runs
COPY --from=builder /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DCGAN_DATA_DIR=/data \
    DCGAN_RUNS_DIR=/runs
WORKDIR /home/dcgan
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["dcgan", "serve", "--host", "0.0.0.0", "--port", "8000"]
