# Image for the worker and the sandboxes (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workflows workflows
COPY activities activities
COPY workers workers
COPY starter starter
COPY integrations integrations
RUN pip install --no-cache-dir .
USER nobody
CMD ["returns-worker"]
