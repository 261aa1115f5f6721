# The node as a MONAI Application Package (MAP) image: the application in /opt/holoscan/app, the shipped
# model and its card in /opt/holoscan/models/<name>, /etc/holoscan/app.json and pkg.json derived from
# app.yaml, the HOLOSCAN_* variables set. Default command: the DICOM node on port 11112; `monai-deploy run`
# (or the command `folder`) runs the folder-mode graph once on the mounted input and exits.
#
#   podman build -t mri-synth-node:0.1.0 .                           # CPU image (torch CPU build)
#   podman build --build-arg TORCH_VARIANT=cuda -t mri-synth-node:0.1.0-cuda .   # NVIDIA GPU hosts
#
# BASE_IMAGE: any Debian bookworm image (python3 is 3.11 there); the tests build from a debootstrap import.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# cpu: torch's CPU build (from container/wheels, else the PyTorch CPU index); cuda: PyPI's torch, with its
# CUDA libraries, which uses an NVIDIA GPU when the container gets one (--gpus all or CDI).
ARG TORCH_VARIANT=cpu
# Extra pip options, e.g. --no-index for an offline build from container/wheels.
ARG PIP_OPTIONS=""
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt constraints.txt /build/
COPY container/requirements.txt /build/container/
COPY container/wheels/ /build/wheels/
# Left out of the venv: tests, caches, and torch's C++ test binaries and headers (for compiling extensions,
# which the node never does), 145 MB.
RUN set -eu; \
    case "$TORCH_VARIANT" in \
        cpu) index="--extra-index-url https://download.pytorch.org/whl/cpu" ;; \
        cuda) index="" ;; \
        *) echo "TORCH_VARIANT=$TORCH_VARIANT: expected cpu or cuda" >&2; exit 2 ;; \
    esac; \
    if [ "$TORCH_VARIANT" = cuda ]; then rm -f /build/wheels/torch-*+cpu-*.whl; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --find-links /build/wheels $index $PIP_OPTIONS \
        -r /build/container/requirements.txt -c /build/constraints.txt; \
    /opt/venv/bin/pip uninstall -y -q pip; \
    find /opt/venv -depth -type d \( -name __pycache__ -o -name tests -path "*/site-packages/*/tests" \) -exec rm -rf {} +; \
    rm -rf /opt/venv/lib/python3.11/site-packages/torch/test /opt/venv/lib/python3.11/site-packages/torch/include

COPY app/ /opt/holoscan/app/app/
COPY operators/ /opt/holoscan/app/operators/
COPY models/ /opt/holoscan/app/models/
COPY product/ /opt/holoscan/app/product/
COPY app.yaml /build/app.yaml
ARG MODEL_NAME=msgldm-cpu
RUN set -eu; \
    mkdir -p /opt/holoscan/models /opt/holoscan/docs; \
    mv /opt/holoscan/app/models/default "/opt/holoscan/models/$MODEL_NAME"; \
    platform=cpu; if [ "$TORCH_VARIANT" = cuda ]; then platform=dgpu; fi; \
    cd /opt/holoscan/app && /opt/venv/bin/python -m app.manifest /build/app.yaml --out /etc/holoscan \
        --model "$MODEL_NAME" --platform "$platform"; \
    /opt/venv/bin/python -m compileall -q /opt/holoscan/app /opt/venv/lib/python3.11/site-packages > /dev/null || true
COPY README.md /opt/holoscan/docs/
COPY container/entrypoint.sh /opt/holoscan/bin/entrypoint

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG TORCH_VARIANT=cpu
# Where the source of this build lives (git remote URL) and its commit; the code itself is in /opt/holoscan/app.
ARG SOURCE_URL="/opt/holoscan/app in this image"
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mri-synth-node" \
      org.opencontainers.image.description="DICOM node that synthesizes missing brain MRI contrasts (MSG-LDM); research use, not for diagnosis" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.monai.deploy.app-sdk="4.0.0" \
      org.nvidia.holoscan="4.6.0" \
      mri-synth-node.torch-variant="${TORCH_VARIANT}"
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 tini \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin \
    && useradd --uid 1000 --user-group --home-dir /var/holoscan --no-create-home holoscan \
    && mkdir -p /var/holoscan/input /var/holoscan/output /var/holoscan/spool /var/holoscan/logs /etc/synth-node \
    && chown -R holoscan:holoscan /var/holoscan
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/holoscan /opt/holoscan
COPY --from=build /etc/holoscan /etc/holoscan
COPY --from=build /build/app.yaml /var/holoscan/app.yaml

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/holoscan/app \
    LD_LIBRARY_PATH=/opt/venv/lib/python3.11/site-packages/nvidia/cu13/lib \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/cache \
    CUPY_CACHE_DIR=/tmp/cache/cupy \
    HOLOSCAN_APPLICATION=/opt/holoscan/app \
    HOLOSCAN_INPUT_PATH=/var/holoscan/input \
    HOLOSCAN_OUTPUT_PATH=/var/holoscan/output \
    HOLOSCAN_WORKDIR=/var/holoscan \
    HOLOSCAN_MODEL_PATH=/opt/holoscan/models \
    HOLOSCAN_DOCS_PATH=/opt/holoscan/docs \
    HOLOSCAN_CONFIG_PATH=/var/holoscan/app.yaml \
    HOLOSCAN_APP_MANIFEST_PATH=/etc/holoscan/app.json \
    HOLOSCAN_PKG_MANIFEST_PATH=/etc/holoscan/pkg.json \
    HOLOSCAN_LOGS_PATH=/var/holoscan/logs \
    SYNTH_NODE_SPOOL=/var/holoscan/spool

USER holoscan
WORKDIR /var/holoscan
VOLUME ["/var/holoscan/spool"]
EXPOSE 11112
STOPSIGNAL SIGTERM
# A real C-ECHO to the node (podman keeps HEALTHCHECK only with `--format docker`).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["/opt/holoscan/bin/entrypoint", "health"]
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/holoscan/bin/entrypoint"]
