"""Faust's Kafka transport, asking the broker to hold a fetch for at most 100 ms.

Faust's aiokafka driver fixes the fetch wait at 1.5 s. Kafka answers a fetch
as soon as a record arrives, so the wait costs nothing there; Tansu, the
embedded broker, holds the fetch for the whole wait (measured: 0.25-1.3 s
from produce to consume at 1.5 s, 3 ms at 100 ms). Every hop of a job
(operation, shard command, job event) paid that, and a load's checkpoints
wait on two of them. With a short wait an idle consumer sends more fetch
requests, ten a second, which no broker notices.

It also delivers what the worker's own producer holds before each commit
(see :meth:`Consumer._commit`).

Registered as the ``hpkafka`` transport (see ``pyproject.toml``).
"""
from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as driver

FETCH_MAX_WAIT_MS = 100


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher when the consumer starts; Faust offers no setting for it
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Any) -> bool:
        # Faust flushes its own producer before it commits; the agents produce with the worker's (job events,
        # a scan's rows). Those go out first too, or a worker killed just after a commit would lose them
        # with nothing left to send them again: a scan would wait for a shard that had already answered.
        before_commit = getattr(self.app, "before_commit", None)
        if before_commit is not None:
            await before_commit()
        return await super()._commit(offsets)


class Transport(driver.Transport):
    Consumer = Consumer
