# The worker image: `harper-pipeline worker` (one worker process) against the Kafka named by
# KAFKA_BOOTSTRAP_SERVERS; scale with containers.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
# a plain install: the topic definitions and Avro schemas ship inside the package (pipeline/schemas)
RUN pip install --no-cache-dir .
ENV PIPELINE_DATA_DIR=/data \
    PIPELINE_HTTP_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 9925
CMD ["harper-pipeline", "worker"]
