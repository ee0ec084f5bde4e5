"""The long-running processes, each a composition root that wires settings, adapters and the
core: the worker, the sealer, the receipts relay, the auditors' web page, the demo, and the
local process helpers (local) the demo and tests share."""
