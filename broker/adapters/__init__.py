"""The outside world behind plain functions: Kafka (kafka/), files and databases (stores/), the
policy and retention files, the settings (the only reader of the environment), logs and
metrics, and the example notices shipped with the package. Imports core/ and adapters/ only."""
