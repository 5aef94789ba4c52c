# The upsell worker image. Build: `docker build -t upsell .`
# Run against a Kafka cluster (see docker-compose.yml for the whole stack):
#   docker run --rm -e UPSELL_KAFKA_BOOTSTRAP_SERVERS=broker:9092 -p 127.0.0.1:6066:6066 upsell
# The same image runs the other commands: `docker run --rm -i upsell produce /dev/stdin`, `... upsell tail --pretty`,
# and the whole demo on its own embedded broker: `docker run --rm upsell demo`.
FROM python:3.11-slim

# No .pyc files in the image, unbuffered logs (they go straight to `docker logs`),
# no pip cache or version check in the layer.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project from a throwaway copy of the sources: only the installed
# package ends up in site-packages, so what runs is exactly what `pip install .`
# built (examples/ goes in as the package upsell_examples: `upsell demo` runs on it).
# Every dependency ships manylinux wheels, so the slim image needs no compiler.
COPY pyproject.toml README.md /tmp/src/
COPY schemas /tmp/src/schemas
COPY triggers /tmp/src/triggers
COPY streams /tmp/src/streams
COPY examples /tmp/src/examples
RUN pip install /tmp/src && rm -rf /tmp/src

# An unprivileged user with a fixed uid (no login shell, no home); the worker
# writes only to /tmp (faust's data dir).
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin upsell

WORKDIR /app
# The example rules, the default: the worker reads examples/saas-rules.yaml
# relative to /app. Mount your own rules over /app/examples (read-only) or pass --rules.
COPY examples /app/examples

USER 10001:10001

# Inside a container the web server (/health, /metrics, /status) must listen on
# every interface, or the published port and Prometheus cannot reach it.
ENV UPSELL_WEB_BIND=0.0.0.0
EXPOSE 6066

# Healthy once the worker's partitions are assigned and their state restored
# (/health answers 503 until then, which urlopen raises on). python is in the
# image anyway, so no curl is installed for this.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('UPSELL_WEB_PORT', '6066'), timeout=4)"]

# Exec form: upsell is PID 1 and receives SIGTERM itself, so `docker stop`
# lets the worker checkpoint and leave the consumer group cleanly.
ENTRYPOINT ["upsell"]
CMD ["worker"]
