"""Inter-agency information-sharing broker: police notices about children, decided per
recipient under a legal basis, redacted field by field, delivered over Kafka and audited.

Where a notice goes: a publisher's `broker publish` (cli/publish) signs and seals it to the
broker onto the notices topic; the worker (services/worker, a Faust agent) hands each message
to core/pipeline, which opens, verifies, decodes, decides per recipient (core/policy), redacts
(core/redaction), seals each delivery (core/crypto) and writes the audit record
(core/records); adapters/kafka/transactions commits deliveries, audit records and the input's
offset in one Kafka transaction. The sealer (services/sealer) seals the audit log
(core/audit); auditors verify it (cli/audit).

The layers, and what each may import (tests/unit/test_architecture.py checks it):

    core/      pure, typed, synchronous: only core/, pure standard-library modules and pure
               libraries; no Kafka, files, sockets, environment or clock
    adapters/  the outside world behind plain functions: Kafka, files, databases, settings
               (the only reader of the environment); imports core/ and adapters/
    services/  the long-running processes, each a composition root; imports core/, adapters/
    cli/       the `broker` command: parse, call, render; imports core/, adapters/, services/
    testing/   fakes of the core's Protocols and process helpers for the tests
"""

__version__ = "0.1.0"
