from __future__ import annotations

from consumer.core.circuit import Circuit


def test_opens_after_consecutive_failures_only() -> None:
    c = Circuit(3, 1.0, 30.0)
    c.failed(0.0)
    c.failed(0.1)
    c.succeeded(0.2)  # a success between resets the count
    c.failed(0.3)
    c.failed(0.4)
    assert (c.state, c.wait_s(0.4)) == ("closed", 0)
    c.failed(0.5)
    assert c.state == "open"


def test_open_circuit_lets_one_probe_through_at_growing_intervals() -> None:
    c = Circuit(1, 1.0, 4.0)
    c.failed(10.0)
    assert c.wait_s(10.5) == 0.5
    assert c.wait_s(11.0) == 0
    assert c.begin(11.0) is True  # the probe
    assert c.wait_s(11.0) > 0  # nobody else while it is out
    c.failed(11.2, probe=True)
    assert c.wait_s(11.2) == 2.0  # doubled
    c.begin(13.2)
    c.failed(13.3, probe=True)
    c.begin(17.3)
    c.failed(17.4, probe=True)
    assert c.wait_s(17.4) == 4.0  # capped


def test_answers_to_requests_sent_before_it_opened_do_not_delay_the_first_probe() -> None:
    c = Circuit(2, 1.0, 30.0)
    c.failed(10.0)
    c.failed(10.1)  # opens: the first probe is due at 11.1
    for late in range(50):  # answers of requests that were in flight when it opened
        c.failed(10.2 + late / 100)
    assert c.wait_s(10.6) == 0.5
    assert c.wait_s(11.1) == 0 and c.begin(11.1) is True


def test_a_probe_that_got_no_answer_of_the_destination_lets_the_next_one_go() -> None:
    c = Circuit(1, 1.0, 30.0)
    c.failed(0.0)
    assert c.begin(1.0) is True
    c.abandon_probe()
    assert c.wait_s(1.0) == 0 and c.begin(1.0) is True


def test_a_successful_probe_closes_and_down_time_is_summed() -> None:
    c = Circuit(1, 1.0, 30.0)
    c.failed(100.0)
    assert c.down_total(130.0) == 30.0
    c.begin(130.0)
    c.succeeded(130.0)
    assert c.state == "closed" and c.begin(131.0) is False
    assert c.down_total(200.0) == 30.0
    c.failed(300.0)
    c.succeeded(305.0)
    assert c.down_total(400.0) == 35.0


def test_retry_after_throttles_everything_until_it_passes() -> None:
    c = Circuit(10, 1.0, 30.0)
    c.failed(50.0, retry_after_s=5.0)
    assert c.state == "closed"
    assert c.wait_s(51.0) == 4.0
    assert c.wait_s(55.0) == 0
    assert c.hold_s(54.0) == 1.0 and c.hold_s(56.0) == 0
