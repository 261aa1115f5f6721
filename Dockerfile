# Minimal image for now: the project and its Python dependencies on Debian bookworm (Python 3.11).
# The MONAI Application Package layout, the DICOM node as default command, the non-root user and the
# GPU variant come with the container issue.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/holoscan/app
COPY requirements.txt constraints.txt ./
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY app/ app/
COPY operators/ operators/
COPY models/ models/
COPY simulation/ simulation/
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/opt/holoscan/app
