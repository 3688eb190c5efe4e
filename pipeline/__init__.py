"""harper-pipeline: Harper's bulk operations as a streaming pipeline on Kafka."""

__version__ = "0.1.0"
