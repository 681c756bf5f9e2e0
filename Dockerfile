# syntax=docker/dockerfile:1.7
# One image for every cryptodash process, built in three stages:
#   frontend-build  builds the Next.js static export (frontend/ → out/) when frontend/ exists;
#   build           installs the package into a virtualenv;
#   runtime         slim, non-root, the venv plus the exported web app; the default target.
# A fourth target, `frontend`, serves the same export with nginx (Kubernetes' frontend Deployment).
#
#   docker build -t cryptodash .                                  # the app (all services)
#   docker build --target frontend -t cryptodash-frontend .       # the static web app
#   docker build --build-arg EXTRAS= -t cryptodash:slim .         # without the transformer (torch)
#
# EXTRAS=nlp installs torch for the sentiment transformer; point PIP_EXTRA_INDEX_URL at
# PyTorch's CPU wheel index to get the CPU build instead of the much larger CUDA one.

ARG PYTHON_VERSION=3.11
ARG NODE_VERSION=20

# ---------------------------------------------------------------- frontend-build
FROM node:${NODE_VERSION}-bookworm-slim AS frontend-build
ENV NEXT_TELEMETRY_DISABLED=1
WORKDIR /build/frontend
# The wildcard matches nothing until the web app exists (BuildKit allows an empty match): the
# image then ships an empty out/ and the API works as before.
COPY frontend* ./
RUN if [ -f package.json ]; then \
      npm ci --no-audit --no-fund && npm run build; \
    else \
      echo "no frontend/ in the build context: shipping no web app"; \
    fi \
    && mkdir -p out

# ---------------------------------------------------------------- build
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG EXTRAS=nlp
ARG PIP_EXTRA_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL}
RUN python -m venv /opt/venv
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install ".${EXTRAS:+[${EXTRAS}]}" \
    && /opt/venv/bin/cryptodash --help >/dev/null

# ---------------------------------------------------------------- frontend (nginx)
FROM nginxinc/nginx-unprivileged:1.27-alpine AS frontend
COPY deploy/docker/nginx.conf /etc/nginx/conf.d/default.conf
COPY --from=frontend-build /build/frontend/out /usr/share/nginx/html
USER 101
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/health || exit 1

# ---------------------------------------------------------------- runtime (default target)
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="cryptodash" \
      org.opencontainers.image.description="Self-hostable, real-time cryptocurrency analytics" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 cryptodash \
    && useradd --system --uid 10001 --gid cryptodash --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin cryptodash \
    && mkdir -p /app/data \
    && chown cryptodash:cryptodash /app/data
COPY --from=build /opt/venv /opt/venv
# The gateway serves the exported web app from ./frontend/out (relative to /app).
COPY --from=frontend-build /build/frontend/out /app/frontend/out
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CRYPTODASH_HOST=0.0.0.0 \
    CRYPTODASH_DATA_DIR=/app/data
USER 10001:10001
EXPOSE 8000
VOLUME ["/app/data"]
# Liveness on the process's own port: `serve <service>` listens on CRYPTODASH_PORT (compose and
# Kubernetes set it), `up` on 8000.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CRYPTODASH_PORT', '8000') + '/health', timeout=2)"]
ENTRYPOINT ["cryptodash"]
CMD ["up"]
