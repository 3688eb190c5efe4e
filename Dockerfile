# The worker image: `harper-pipeline worker` against the Kafka named by KAFKA_BOOTSTRAP_SERVERS.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY topics ./topics
# editable, so the package finds topics/ beside pipeline/ in /app
RUN pip install --no-cache-dir -e .
ENV PIPELINE_DATA_DIR=/data \
    PIPELINE_HTTP_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 9925
CMD ["harper-pipeline", "worker"]
