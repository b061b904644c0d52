# The app's image, built from its wheel (docker-compose.yml: api, worker), and a separate image
# for the vendor sandboxes (target `sandboxes`; development and demos only, never production).
# The base image is pinned to an exact release, one the official image library publishes
# (python 3.11.14 on Debian bookworm, slim); bump it deliberately, for every stage at once.

FROM python:3.11.14-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
# Every package pyproject.toml ships (tests/unit/test_dockerfile.py holds the two lists together).
COPY workflows workflows
COPY activities activities
COPY workers workers
COPY starter starter
COPY integrations integrations
COPY api api
COPY store store
COPY portal portal
COPY console console
COPY web web
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11.14-slim-bookworm AS app
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --no-create-home returns
# The installed package, not a checkout: nothing of the repository is in this image.
WORKDIR /home/returns
USER returns
CMD ["returns-worker"]

FROM app AS sandboxes
USER root
COPY sandboxes /opt/returns-dev/sandboxes
RUN pip install --no-cache-dir "openapi-core>=0.19,<0.24" "werkzeug>=3.1.6,<4" "pyyaml>=6,<7"
WORKDIR /opt/returns-dev
USER returns
CMD ["python", "-m", "sandboxes", "--host", "0.0.0.0"]
