"""Kafka: the only package that imports confluent_kafka (client, admin, registry), and the
Kafka thread (`source`) with what it reads (`readers`)."""
