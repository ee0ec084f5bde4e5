"""For tests: fakes that implement the core's Protocols (fakes: memory data-key store, fixed
clock, keys in memory, a ready pipeline), audit-log drills (audit) and helpers that run the real
processes for integration tests and benchmarks (processes)."""
