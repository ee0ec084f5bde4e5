"""The functional core: notices and records as models, the pipeline, policy evaluation,
redaction, signing and sealing, the audit log's Merkle tree and verification, retention rules
and the deployment plan (topics, ACLs). Pure, typed and synchronous: whatever it needs from
the world (the clock, the data-key store, the replay guard, file contents) is passed in."""
