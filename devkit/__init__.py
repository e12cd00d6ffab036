"""The development kit: a local Kafka broker and schema registry, the Movable Ink stand-in,
the harness and the demo; used by the tests, the benchmarks and `make demo`."""
