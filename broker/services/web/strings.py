"""What the auditor page says, in the auditor's language: the page's own text (filled into
page.html server-side) and the sentences page.js builds rows and counts from.

The page asks for ``?lang=en`` (a select in its header); without it, the service's language
(BROKER_LANG, bokmål by default). page.js gets its strings as JSON in a non-executable script
element (the CSP allows no inline code; data is not code), and fills ``%(name)s`` itself.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from broker.core.audit.report import moment
from broker.core.citations import law
from broker.core.i18n import LANGUAGE_NAMES, LANGUAGES, Translator
from broker.core.labels import decision_label, field_groups, field_label, notice_type_label
from broker.core.names import Names


def _page(t: Translator) -> dict[str, str]:
    """page.html's ``{{key}}`` -> its text."""
    return {
        "title": t.gettext("Audit log · Oslo information-sharing broker"),
        "heading": t.gettext("Audit log — who received what, when, and under which law"),
        "status": t.gettext("Chain status"),
        "verifying": t.gettext("verifying…"),
        "subject": t.gettext("Data-subject report"),
        "national_id": t.gettext("National identity number"),
        "report": t.gettext("Report"),
        "not_stored": t.gettext(
            "The number is used only to find the person's keyed reference; it is not stored."
        ),
        "search": t.gettext("Search"),
        "recipient": t.gettext("Recipient"),
        "organisation": t.gettext("Organisation"),
        "legal_basis": t.gettext("Legal basis"),
        "decision": t.gettext("Decision"),
        "any": t.gettext("any"),
        "deliver": t.gettext("delivered"),
        "deny": t.gettext("not shared"),
        "dead_letter": t.gettext("rejected input"),
        "review": t.gettext("reviewed"),
        "notice_id": t.gettext("Notice id"),
        "since": t.gettext("From"),
        "until": t.gettext("Before"),
        "policy_version": t.gettext("Policy version"),
        "chart": t.gettext("Disclosures per recipient and legal basis over time"),
        "loading": t.gettext("loading…"),
        "language": t.gettext("Language"),
        "show_paths": t.gettext("show field paths"),
    }


def _script(t: Translator) -> dict[str, str | list[str]]:
    """page.js's sentences; a count's two forms as [one, other], ``%(n)s`` left for page.js."""
    n = "%(n)s"
    return {
        "verified": t.gettext("Verified: %(verified)s of %(records)s records sealed"),
        "verified_signed": t.gettext(
            "Verified: %(verified)s of %(records)s records sealed and signed by their "
            "entitled writer"
        ),
        "broken": t.gettext("Does not verify — %(kind)s: %(where)s"),
        "latest": t.gettext("latest checkpoint"),
        "tree_size": t.gettext("tree size"),
        "root_hash": t.gettext("root hash"),
        "signed_at": t.gettext("signed at"),
        "key_id": t.gettext("key id"),
        "checkpoints": t.gettext("checkpoints / witness copies"),
        "unsealed": t.gettext("unsealed records"),
        "unattributed": t.gettext("messages no entitled writer signed"),
        "records": [
            t.ngettext("%(n)s record", "%(n)s records", 1, n=n),
            t.ngettext("%(n)s record", "%(n)s records", 2, n=n),
        ],
        "tampered": t.gettext(
            "%(count)s of the store disagree with their record bytes and are left out: %(where)s"
        ),
        "rows": [
            t.ngettext("%(n)s row", "%(n)s rows", 1, n=n),
            t.ngettext("%(n)s row", "%(n)s rows", 2, n=n),
        ],
        "recorded": t.gettext("recorded (Oslo time)"),
        "notice": t.gettext("notice"),
        "recipient": t.gettext("recipient"),
        "organisation": t.gettext("organisation"),
        "decision": t.gettext("decision"),
        "rule": t.gettext("rule"),
        "legal_basis": t.gettext("legal basis"),
        "fields": t.gettext("fields disclosed"),
        "record_id": t.gettext("record id"),
        "review_required": t.gettext("(to be reviewed)"),
        "when": t.gettext("when (Oslo time)"),
        "to_whom": t.gettext("to whom"),
        "no_disclosures": t.gettext("No disclosures yet."),
        "chart_label": t.gettext("stacked bars: disclosures per day by recipient and legal basis"),
        "field_count": [
            t.ngettext("%(n)s field", "%(n)s fields", 1, n=n),
            t.ngettext("%(n)s field", "%(n)s fields", 2, n=n),
        ],
    }


def fill(page: str, t: Translator, csrf: str, auditor: str) -> str:
    """page.html with its words, the language switch and page.js's strings."""
    values = {k: html.escape(v) for k, v in _page(t).items()}
    values["lang"] = t.lang
    values["csrf"] = csrf
    values["whoami"] = html.escape(
        t.gettext(
            "signed in with the certificate of %(auditor)s; every view and search is logged",
            auditor=auditor,
        )
    )
    values["languages"] = "".join(
        f'<option value="{code}"{" selected" if code == t.lang else ""}>'
        f"{html.escape(LANGUAGE_NAMES[code])}</option>"
        for code in LANGUAGES
    )
    # JSON in a script element: '<' escaped, so no text can close the element
    values["strings"] = json.dumps(_script(t), ensure_ascii=False).replace("<", "\\u003c")
    for key, value in values.items():
        page = page.replace("{{" + key + "}}", value)
    return page


def record_shown(d: Mapping[str, Any], t: Translator, names: Names) -> dict[str, Any]:
    """What the page shows of a record, beside its codes: the recipient and organisation by
    name, the fields by label and grouped by the part of the notice they belong to."""
    basis = d.get("legal_basis") or {}
    cited = isinstance(basis, dict) and basis.get("statute")
    decision = str(d.get("outcome") or d.get("event") or "")
    return {
        "recorded": moment(str(d.get("recorded_at", "")), t),
        "notice": t.gettext(
            "%(kind)s %(ref)s",
            kind=notice_type_label(str(d.get("notice_type") or "-"), t),
            ref=str(d.get("notice_id") or "-")[:8],
        ),
        "decision": decision_label(decision, t),
        "law": law(str(basis["statute"]), str(basis.get("citation", "")), t) if cited else "",
        "recipient": names.recipient(str(d.get("recipient") or "-"), t.lang),
        "organisation": names.organisation(str(d["organisation"])) if d.get("organisation") else "",
        "fields": [
            {"path": str(f), "label": field_label(str(f), t.lang)} for f in d.get("fields_kept", [])
        ],
        "groups": field_groups([str(f) for f in d.get("fields_kept", [])], t),
        "purpose": names.purpose(
            str(d.get("rule_id") or ""), str(d.get("policy_version") or ""), t.lang
        ),
    }
