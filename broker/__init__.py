"""Inter-agency information-sharing broker: police notices about children, decided per
recipient under a legal basis, redacted field by field, delivered over Kafka and audited."""

__version__ = "0.1.0"
