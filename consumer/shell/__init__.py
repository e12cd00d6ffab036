"""The shell: Kafka, HTTP, the delivery loop, outcomes, metrics and status. Each boundary
translates its foreign exceptions in one place and holds no business rule."""
