# syntax=docker/dockerfile:1
# One image for every Jarvis service; the command picks the service:
#   docker run IMAGE gateway | planner | executor | migrate apply | users create NAME
# docker-compose.yml builds and runs it (README, "Run with Docker"); deploy/k8s/ uses it too.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv holding the dependencies, then the project -------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src

# The dependencies come from pyproject.toml alone, so this layer is rebuilt only when they
# change, not on every code change. Every one of them ships wheels: no compiler is needed.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep=chr(10))" > requirements.txt \
    && pip install --requirement requirements.txt

COPY README.md ./
COPY cli cli
COPY services services
COPY shared shared
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps .

# --- runtime: the virtualenv and the documentation, run as an unprivileged user -------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    JARVIS_HOST=0.0.0.0 \
    JARVIS_PORT=8080 \
    JARVIS_LOG_FORMAT=json \
    JARVIS_DATA_DIR=/var/lib/jarvis

# A numeric uid, so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 jarvis \
    && useradd --system --uid 10001 --gid jarvis --home-dir /var/lib/jarvis --create-home \
        --shell /usr/sbin/nologin jarvis

COPY --from=build /opt/venv /opt/venv
# The knowledge base's first documents (docker-compose.yml's `knowledge` service loads them).
WORKDIR /app
COPY README.md ./
COPY docs docs

USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["jarvis"]
CMD ["gateway"]
