"""The tamper-evident audit log: RFC 6962 Merkle tree, signed checkpoints, sealing, verifying.

Pure: no Kafka, no files. The shell (``broker audit …``, the auditor store) feeds it bytes.
"""

from broker.core.audit.checkpoint import (
    Checkpoint,
    key_id,
    load_public_pem,
    public_pem,
    sign,
    trusted_keys,
    verify_signature,
)
from broker.core.audit.errors import AuditError, ProofError, RootMismatch, SignatureError
from broker.core.audit.events import (
    CHECKPOINT_TYPE,
    DIRECTORY_TYPE,
    OBLIGATION_TYPE,
    RECORD_TYPE,
    REVIEW_TYPE,
    Entry,
    Retirement,
    canonical,
    ce_headers,
    record_id_of,
    retirement_event,
    review_event,
)
from broker.core.audit.faults import Fault, FaultKind, Report
from broker.core.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from broker.core.audit.sealer import Sealer
from broker.core.audit.verify import Verifier, verify_log

__all__ = [
    "CHECKPOINT_TYPE",
    "DIRECTORY_TYPE",
    "EMPTY_ROOT",
    "OBLIGATION_TYPE",
    "RECORD_TYPE",
    "REVIEW_TYPE",
    "AuditError",
    "Checkpoint",
    "Entry",
    "Fault",
    "FaultKind",
    "MerkleTree",
    "ProofError",
    "Report",
    "Retirement",
    "RootMismatch",
    "Sealer",
    "SignatureError",
    "Verifier",
    "canonical",
    "ce_headers",
    "key_id",
    "leaf_hash",
    "load_public_pem",
    "node_hash",
    "public_pem",
    "record_id_of",
    "retirement_event",
    "review_event",
    "sign",
    "trusted_keys",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
    "verify_signature",
]
