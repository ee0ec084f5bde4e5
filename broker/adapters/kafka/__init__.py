"""Kafka: one client factory (clients), topics and ACLs (admin), the one audit-topic reader
(auditlog), the worker's transactions (transactions) and its progress topic (progress), tolerant
record parsing (records), TLS credentials and contexts (tls/), and a local broker (local/)."""
