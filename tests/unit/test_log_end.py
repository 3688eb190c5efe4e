"""``LogEnd``: read up to where a log ended, from ListOffsets' answer pinned to a fetch's high watermark."""
from aiokafka import TopicPartition

from pipeline.kafka.logview import LogEnd

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def test_an_empty_partition_is_read_at_once():
    assert LogEnd({A: 0, B: 0}).reached({A: 0, B: 0}, {})


def test_the_answer_reached_is_pinned_to_the_watermark_of_that_fetch():
    end = LogEnd({A: 1})  # a batch of five at 0-4, as Tansu answers it
    assert not end.reached({A: 0}, {A: None})
    assert not end.reached({A: 2}, {A: 5})  # part of the batch read: the rest is waited for
    assert not end.reached({A: 4}, {A: 9})  # a later watermark is not chased: 5 was pinned
    assert end.reached({A: 5}, {A: 9})


def test_on_a_broker_that_answers_right_the_answer_is_enough():
    end = LogEnd({A: 5, B: 3})
    assert not end.reached({A: 5, B: 2}, {A: 5, B: 3})
    assert end.reached({A: 5, B: 3}, {A: 5, B: 3})
