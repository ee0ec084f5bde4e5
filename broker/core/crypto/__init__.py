"""Keys and what is done with them, without files: the key registry (registry), key life cycle
(lifecycle), signatures (signing), sealing to a recipient (sealing) and keyed references to a
child (refs). Key files live in broker.adapters.stores.keyfiles."""
