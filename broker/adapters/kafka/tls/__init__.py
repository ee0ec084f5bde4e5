"""Mutual TLS for the secure Kafka profile and the auditor page.

Every client and the broker itself hold a certificate from a local CA (built in
broker.core.deployment.certificates); the broker maps the certificate's CN to the principal
(``User:<CN>``) that its ACLs name. ``credentials`` lays the key material out on disk,
``contexts`` turns it into TLS contexts and aiokafka options, and

    python -m broker.adapters.kafka.tls init DIR [--policy-dir POLICY_DIR]  (kafka.sh)

creates the CA and every certificate that is missing.
"""
