"""`broker audit …`: the auditors' commands, one module per job; each parses, calls the core,
the adapters or a service (broker.services.sealer, .relay, .web), and renders.

    seal      follow the audit topic, publish signed checkpoints, append them to the witness file
    sync      materialise the topic into the auditor store (SQLite or PostgreSQL), verifying
    verify    check the topic, the store or a dump; exit 1 naming the first bad record, 3 if
              records are not proven (unsealed, no checkpoints, no witness)
    query · subject · stats · review · tail    read the log
    obligations · inform · letter              duties disclosures opened; closing the duty
                                               to inform; the letter to the guardians
    pubkey · dump · prove · check-proof        for auditors working offline
    serve                                      the auditors' web page
    receipt · relay-receipts · access          the access log: delivered → received → opened
"""

from __future__ import annotations

import typer

from broker.cli.audit import (
    obligations,
    offline,
    query,
    receipts,
    review,
    seal,
    serve,
    subject,
    sync,
    tail,
    verify,
)

app = typer.Typer(no_args_is_help=True, help="Auditors: read, seal and check the audit log.")

# in this order in `broker audit --help`
app.command("tail")(tail.tail)
app.command("pubkey")(seal.pubkey)
app.command("seal")(seal.seal)
app.command("sync")(sync.sync)
app.command("verify")(verify.verify)
app.command("dump")(offline.dump)
app.command("prove")(offline.prove)
app.command("check-proof")(offline.check_proof)
app.command("query")(query.query)
app.command("subject")(subject.subject)
app.command("stats")(query.stats)
app.command("review")(review.review)
app.command("obligations")(obligations.obligations)
app.command("inform")(obligations.inform)
app.command("letter")(obligations.letter)
app.command("serve")(serve.serve)
app.command("receipt")(receipts.receipt)
app.command("relay-receipts")(receipts.relay_receipts)
app.command("access")(receipts.access)
