import pytest

from mirrorguard.engine.pipeline import pipelined


def test_results_in_order():
    assert list(pipelined(lambda: range(100), lambda x: x * 2)) == [x * 2 for x in range(100)]


def test_worker_exception_reaches_the_consumer():
    def source():
        yield 1
        raise ValueError("boom in parser")

    with pytest.raises(ValueError, match="boom in parser"):
        list(pipelined(source, lambda x: x))


def test_consumer_stopping_early_stops_the_worker():
    produced = []

    def source():
        for i in range(10_000):
            produced.append(i)
            yield i

    gen = pipelined(source, lambda x: x, depth=2)
    assert next(gen) == 0
    gen.close()
    assert len(produced) < 100
