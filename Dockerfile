# syntax=docker/dockerfile:1.7
# One image, two commands: `gallery gateway` and `gallery worker` (see deploy/kustomize/base).
# libvips comes from the pyvips-binary wheel and FFmpeg (videos) from PyAV's, so neither stage
# installs system libvips or ffmpeg.
# The base is pinned to an exact patch tag; release.yml records the pushed image's digest in
# the overlays, so what runs in the cluster is pinned by digest.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/gallery
ENV PATH=/opt/gallery/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY gateway ./gateway
COPY workers ./workers
COPY gallery ./gallery
# A non-editable install: the runtime stage copies only the virtualenv, never the sources.
RUN pip install --no-compile . \
    && python -m compileall -q /opt/gallery \
    && python -c "import pyvips; pyvips.Image.black(1, 1).webpsave_buffer()" \
    && python -c "import av; av.codec.Codec('libx264', 'w'); av.codec.Codec('hevc', 'r')"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="gallery-pipeline" \
      org.opencontainers.image.description="Photo-gallery pipeline: gateway and render worker" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed high UID/GID so Kubernetes' runAsNonRoot can verify it and it matches the manifests.
RUN groupadd --system --gid 10001 gallery \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin gallery
COPY --from=build /opt/gallery /opt/gallery
# Read-only root filesystem: bytecode is compiled at build time, and the only writable place
# is /tmp (an emptyDir in Kubernetes), which HOME and TMPDIR point at.
ENV PATH=/opt/gallery/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080 9100
ENTRYPOINT ["gallery"]
CMD ["gateway"]
