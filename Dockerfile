# syntax=docker/dockerfile:1
# One image for every process of the service; compose picks the command:
#   API (default)  dcgan serve --host 0.0.0.0 --port 8000
#   worker         dcgan worker
#   migrations     dcgan db upgrade
#   Flower         dcgan flower --port=5555
# torch/torchvision from PyPI are the CUDA builds on linux x86_64 (~5.5 GB): the worker uses
# a GPU when the container is given one and the CPU otherwise.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- dependencies: a virtual environment holding exactly requirements.lock (the dependencies
# and the flower extra, every package pinned with its hashes). It depends on the lock alone,
# so the ~5.5 GB layer stays cached, and is shipped unchanged, until the lock changes.
FROM ${PYTHON_IMAGE} AS dependencies
# A pip configuration for the installs (a package mirror, a proxy's CA bundle), e.g. a file
# mounted into the build; unset, pip uses PyPI.
ARG PIP_CONFIG_FILE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-deps --require-hashes -r /tmp/requirements.lock

# --- wheel: the application alone, as a wheel, built with the lock's setuptools (no build
# isolation: nothing unpinned is fetched).
FROM dependencies AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared_models ./shared_models
COPY core ./core
COPY artifacts ./artifacts
COPY registry ./registry
COPY jobs ./jobs
COPY dcgan_cli ./dcgan_cli
COPY service ./service
COPY worker ./worker
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# --- runtime: the dependencies' environment, the application installed into it, Debian's
# Fashion-MNIST, a C++ compiler for torch.compile (Inductor's CPU kernels and Triton's GPU
# launchers are compiled when a job first runs) and an unprivileged user.
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="dcgan-service" \
      org.opencontainers.image.description="PyTorch DCGAN (CNTK 206B): FastAPI service and Celery training worker"
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        dataset-fashion-mnist=0.0~git20200523.55506a9-1 \
        g++=4:12.2.0-3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 dcgan \
    && useradd --system --no-log-init --uid 10001 --gid dcgan --create-home --home-dir /home/dcgan dcgan \
    && install -d -o dcgan -g dcgan -m 0755 /data /runs
COPY --from=dependencies /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DCGAN_DATA_DIR=/data \
    DCGAN_RUNS_DIR=/runs
RUN --mount=type=bind,from=wheel,source=/wheels,target=/tmp/wheels \
    pip install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl \
    && pip check
WORKDIR /home/dcgan
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["dcgan", "serve", "--host", "0.0.0.0", "--port", "8000"]
