"""Reading mail from a real local Dovecot IMAP server."""

from __future__ import annotations

import imaplib
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from itertools import count

import pytest
from conftest import TLSFiles
from synthral_connector_email.imap import decode_mailbox, encode_mailbox
from synthral_connector_email.plugin import Email
from synthral_connector_email.reading import FetchMessage, FlagMessages, ListMessages, MoveMessages, NewEmail

from synthral_sdk._conformance_sandbox import sandbox_unavailable
from synthral_sdk.errors import ConfigurationError, EgressDenied, InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient, call

_ids = count(1)


@pytest.fixture
def mailbox(imap_server: dict[str, str]) -> Iterator[tuple[imaplib.IMAP4, dict[str, str]]]:
    """A direct IMAP session to put mail in place (as a mail server's delivery would)."""
    conn = imaplib.IMAP4(imap_server["imap_host"], int(imap_server["imap_port"]), timeout=10)
    conn.login(imap_server["username"], imap_server["password"])
    try:
        yield conn, imap_server
    finally:
        conn.logout()


def deliver(
    conn: imaplib.IMAP4,
    subject: str,
    *,
    box: str = "INBOX",
    text: str = "hello",
    message_id: str | None = None,
    html: str | None = None,
    attachment: bytes | None = None,
) -> str:
    message = EmailMessage()
    message["From"] = "Bo <bo@acme.test>"
    message["To"] = "ada@acme.test"
    message["Subject"] = subject
    message["Message-ID"] = message_id or f"<m{next(_ids)}@acme.test>"
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="invoice.pdf")
    typ, data = conn.append(f'"{encode_mailbox(box)}"', None, None, message.as_bytes())
    assert typ == "OK", data
    return str(message["Message-ID"])


def test_mailbox_names_round_trip_through_modified_utf7() -> None:
    assert encode_mailbox("Geschäft & Co") == "Gesch&AOQ-ft &- Co"
    assert encode_mailbox("日本語") == "&ZeVnLIqe-"
    for name in ("Geschäft & Co", "日本語", "INBOX", "a/b.c", "Ünïcödé~"):
        assert decode_mailbox(encode_mailbox(name)) == name


def test_list_finds_by_subject_sender_and_unseen_newest_first_without_marking_read(
    mailbox: tuple[imaplib.IMAP4, dict[str, str]],
) -> None:
    conn, secrets = mailbox
    conn.create('"Lists"')
    for subject in ("Invoice 1", "Newsletter", "Invoice 2", "Grüße aus Köln"):
        deliver(conn, subject, box="Lists")
    out = call(ListMessages(), {"mailbox": "Lists", "subject": "invoice"}, secrets=secrets)
    assert out["matched"] == 2 and [m["subject"] for m in out["messages"]] == ["Invoice 2", "Invoice 1"]
    first = out["messages"][0]
    assert first["from"] == "Bo <bo@acme.test>" and first["to"] == ["ada@acme.test"] and first["flags"] == []
    unicode = call(ListMessages(), {"mailbox": "Lists", "subject": "Grüße", "sender": "bo@"}, secrets=secrets)
    assert [m["subject"] for m in unicode["messages"]] == ["Grüße aus Köln"]
    limited = call(ListMessages(), {"mailbox": "Lists", "limit": 1, "unseen": True}, secrets=secrets)
    assert limited["matched"] == 4 and [m["subject"] for m in limited["messages"]] == ["Grüße aus Köln"]
    since = call(ListMessages(), {"mailbox": "Lists", "since": "2000-01-01", "before": "2000-01-02"}, secrets=secrets)
    assert since["matched"] == 0


def test_fetch_returns_bodies_and_attachments_and_marks_seen_only_when_asked(
    mailbox: tuple[imaplib.IMAP4, dict[str, str]],
) -> None:
    conn, secrets = mailbox
    conn.create('"Fetch"')
    deliver(conn, "Your invoice", box="Fetch", text="Total: 12 €", html="<p>Total: 12 €</p>", attachment=b"%PDF-1.4")
    uid = call(ListMessages(), {"mailbox": "Fetch"}, secrets=secrets)["messages"][0]["uid"]
    out = call(FetchMessage(), {"mailbox": "Fetch", "uid": uid, "include_attachments": True}, secrets=secrets)
    assert out["subject"] == "Your invoice" and out["text"].strip() == "Total: 12 €"
    assert out["html"].strip() == "<p>Total: 12 €</p>"
    assert out["attachments"] == [
        {"filename": "invoice.pdf", "content_type": "application/pdf", "size": 8, "content_base64": "JVBERi0xLjQ="}
    ]
    assert out["flags"] == []
    seen = call(FetchMessage(), {"mailbox": "Fetch", "uid": uid, "mark_seen": True}, secrets=secrets)
    assert seen["flags"] == ["\\Seen"] and "content_base64" not in seen["attachments"][0]
    assert call(ListMessages(), {"mailbox": "Fetch"}, secrets=secrets)["messages"][0]["flags"] == ["\\Seen"]
    with pytest.raises(NonRetryableError, match="holds no message with UID 999"):
        call(FetchMessage(), {"mailbox": "Fetch", "uid": 999}, secrets=secrets)


def test_flags_are_set_and_cleared_and_bad_flags_refused(mailbox: tuple[imaplib.IMAP4, dict[str, str]]) -> None:
    conn, secrets = mailbox
    conn.create('"Flags"')
    deliver(conn, "a", box="Flags")
    deliver(conn, "b", box="Flags")
    uids = sorted(m["uid"] for m in call(ListMessages(), {"mailbox": "Flags"}, secrets=secrets)["messages"])
    out = call(
        FlagMessages(), {"mailbox": "Flags", "uids": uids, "add": ["\\Flagged", "\\Seen", "invoice"]}, secrets=secrets
    )
    assert {u: sorted(f) for u, f in out["flags"].items()} == {str(u): ["\\Flagged", "\\Seen", "invoice"] for u in uids}
    cleared = call(FlagMessages(), {"mailbox": "Flags", "uids": uids[:1], "remove": ["\\Seen"]}, secrets=secrets)
    assert sorted(cleared["flags"][str(uids[0])]) == ["\\Flagged", "invoice"]
    with pytest.raises(ConfigurationError, match="'add' holds"):
        call(FlagMessages(), {"mailbox": "Flags", "uids": uids, "add": ["\\Seen) UID EXPUNGE 1:* ("]}, secrets=secrets)
    with pytest.raises(NonRetryableError, match="holds no message with UID 77"):
        call(FlagMessages(), {"mailbox": "Flags", "uids": [uids[0], 77], "add": ["\\Seen"]}, secrets=secrets)
    assert call(ListMessages(), {"mailbox": "Flags", "unseen": True}, secrets=secrets)["matched"] == 1


def test_move_to_a_new_unicode_mailbox_reports_the_new_uids_and_refuses_unknown_ones(
    mailbox: tuple[imaplib.IMAP4, dict[str, str]],
) -> None:
    conn, secrets = mailbox
    conn.create('"Triage"')
    for subject in ("x", "y", "z"):
        deliver(conn, subject, box="Triage")
    uids = sorted(m["uid"] for m in call(ListMessages(), {"mailbox": "Triage"}, secrets=secrets)["messages"])
    with pytest.raises(NonRetryableError, match="there is no mailbox 'Geschäft'; create it or set create"):
        call(MoveMessages(), {"mailbox": "Triage", "uids": uids[:2], "to": "Geschäft"}, secrets=secrets)
    with pytest.raises(NonRetryableError, match="holds no message with UID 500"):
        call(
            MoveMessages(),
            {"mailbox": "Triage", "uids": [uids[0], 500], "to": "Geschäft", "create": True},
            secrets=secrets,
        )
    assert call(ListMessages(), {"mailbox": "Triage"}, secrets=secrets)["matched"] == 3  # nothing moved
    out = call(MoveMessages(), {"mailbox": "Triage", "uids": uids[:2], "to": "Geschäft"}, secrets=secrets)
    assert out["moved"] == 2 and out["expunged"] is True and sorted(out["new_uids"]) == [str(u) for u in uids[:2]]
    moved = call(ListMessages(), {"mailbox": "Geschäft"}, secrets=secrets)
    assert sorted(m["subject"] for m in moved["messages"]) == ["x", "y"]
    assert sorted(m["uid"] for m in moved["messages"]) == sorted(out["new_uids"].values())
    assert [m["subject"] for m in call(ListMessages(), {"mailbox": "Triage"}, secrets=secrets)["messages"]] == ["z"]
    with pytest.raises(ConfigurationError, match="line break"):
        call(MoveMessages(), {"mailbox": "Triage", "uids": uids[2:], "to": 'a"\r\nA1 DELETE INBOX'}, secrets=secrets)


def test_new_email_starts_at_the_end_then_emits_each_message_once(
    mailbox: tuple[imaplib.IMAP4, dict[str, str]],
) -> None:
    conn, secrets = mailbox
    conn.create('"Orders"')
    deliver(conn, "old order", box="Orders")
    config = {"mailbox": "Orders", "batch": 2}
    first = call(NewEmail(), {"state": None}, config=config, secrets=secrets)
    assert first["events"] == [] and first["state"]["last_uid"] == 1
    ids = [deliver(conn, f"order {n}", box="Orders", text=f"order number {n}") for n in (1, 2, 3)]
    second = call(NewEmail(), {"state": first["state"]}, config=config, secrets=secrets)
    third = call(NewEmail(), {"state": second["state"]}, config=config, secrets=secrets)
    assert [e["subject"] for e in second["events"]] == ["order 1", "order 2"]  # a batch of 2
    assert [e["subject"] for e in third["events"]] == ["order 3"]
    assert [e["id"] for e in second["events"] + third["events"]] == ids
    assert second["events"][0]["text"].strip() == "order number 1" and second["events"][0]["flags"] == []
    deliver(conn, "order 3 again", box="Orders", message_id=ids[2])  # the same message delivered twice
    fourth = call(NewEmail(), {"state": third["state"]}, config=config, secrets=secrets)
    assert fourth["events"] == [] and fourth["state"]["last_uid"] == 5
    assert call(ListMessages(), {"mailbox": "Orders", "unseen": True}, secrets=secrets)["matched"] == 5  # all unread


def test_a_changed_uidvalidity_rescans_recent_mail_and_skips_what_was_emitted(
    mailbox: tuple[imaplib.IMAP4, dict[str, str]],
) -> None:
    conn, secrets = mailbox
    conn.create('"Rebuilt"')
    deliver(conn, "before", box="Rebuilt")
    config = {"mailbox": "Rebuilt", "include_body": False}
    state = call(NewEmail(), {"state": None}, config=config, secrets=secrets)["state"]
    emitted = deliver(conn, "emitted", box="Rebuilt")
    polled = call(NewEmail(), {"state": state}, config=config, secrets=secrets)
    assert [e["id"] for e in polled["events"]] == [emitted] and "text" not in polled["events"][0]
    conn.delete('"Rebuilt"')  # rebuilt: every UID renumbered under a new UIDVALIDITY
    conn.create('"Rebuilt"')
    deliver(conn, "emitted", box="Rebuilt", message_id=emitted)
    fresh = deliver(conn, "fresh", box="Rebuilt")
    after = call(NewEmail(), {"state": polled["state"]}, config=config, secrets=secrets)
    assert after["state"]["uidvalidity"] != polled["state"]["uidvalidity"]
    assert [e["id"] for e in after["events"]] == [fresh]  # "emitted" came again under a new UID: skipped
    assert after["state"]["last_uid"] == 2
    again = call(NewEmail(), {"state": after["state"]}, config=config, secrets=secrets)
    assert again["events"] == []


def test_login_and_mailbox_problems_are_named(mailbox: tuple[imaplib.IMAP4, dict[str, str]]) -> None:
    _, secrets = mailbox
    with pytest.raises(NonRetryableError, match="refused the login"):
        call(ListMessages(), {}, secrets={**secrets, "password": "wrong"})
    with pytest.raises(NonRetryableError, match="no mailbox 'Nope' to open"):
        call(ListMessages(), {"mailbox": "Nope"}, secrets=secrets)
    with pytest.raises(ConfigurationError, match="no 'imap_host'"):
        call(ListMessages(), {}, secrets={"username": "ada", "password": "x"})
    with pytest.raises(ConfigurationError, match="'imap_security' is 'ssl'"):
        call(ListMessages(), {}, secrets={**secrets, "imap_security": "ssl"})
    with pytest.raises(InputInvalid, match="uid"):
        call(FetchMessage(), {"uid": 0}, secrets=secrets)
    assert call(Email(), {}, operation="test_connection", secrets=secrets) == {
        "ok": True,
        "message": "the IMAP server accepted the login",
    }
    bad = call(Email(), {}, operation="test_connection", secrets={**secrets, "password": "wrong"})
    assert bad["ok"] is False and "refused the login" in bad["message"]


def test_the_imap_server_is_reached_only_where_the_network_policy_allows(imap_server: dict[str, str]) -> None:
    # A server's policy refuses this machine: a clear refusal, not a connection error to retry.
    with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
        call(ListMessages(), {}, secrets=imap_server, network=NetworkPolicy.server())
    with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
        call(NewEmail(), {"state": None}, secrets=imap_server, network=NetworkPolicy.server())
    # A private address is refused by its number, before anything connects.
    with pytest.raises(EgressDenied, match="private"):
        call(ListMessages(), {}, secrets={**imap_server, "imap_host": "10.0.0.1"}, network=NetworkPolicy.server())
    status = call(Email(), {}, operation="test_connection", secrets=imap_server, network=NetworkPolicy.server())
    assert status["ok"] is False and "SYNTHRAL_EGRESS_ALLOW" in status["message"]
    # Allowed but unreachable stays the retryable "could not reach".
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(RetryableError, match="could not reach the IMAP server"):
        call(ListMessages(), {}, secrets={**imap_server, "imap_port": str(closed)})
    # Reached by a name, judged by the addresses it resolves to: the same server.
    by_name = call(ListMessages(), {"mailbox": "INBOX"}, secrets={**imap_server, "imap_host": "localhost"})
    direct = call(ListMessages(), {"mailbox": "INBOX"}, secrets=imap_server)
    assert by_name["uidvalidity"] == direct["uidvalidity"] > 0


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_runs_on_the_policy_connection_and_checks_the_certificate_against_the_host_name(
    imap_server: dict[str, str], imaps_port: int, trusted: TLSFiles, security: str
) -> None:
    port = str(imaps_port) if security == "tls" else imap_server["imap_port"]
    by_name = {**imap_server, "imap_host": "localhost", "imap_port": port, "imap_security": security}
    by_address = {**by_name, "imap_host": "127.0.0.1"}
    # The operator allowed the name localhost, not loopback addresses: the policy sees the name
    # the credential gives, and TLS checks the certificate (made for localhost) against it.
    named = NetworkPolicy.server(["localhost"])
    assert call(ListMessages(), {"mailbox": "INBOX"}, secrets=by_name, network=named)["uidvalidity"] > 0
    assert call(Email(), {}, operation="test_connection", secrets=by_name, network=named)["ok"] is True
    with pytest.raises(EgressDenied, match="loopback"):
        call(ListMessages(), {"mailbox": "INBOX"}, secrets=by_address, network=named)
    # Reached by its address, the certificate does not match: verification is as strict as before.
    with pytest.raises(RetryableError, match="CERTIFICATE_VERIFY_FAILED"):
        call(ListMessages(), {"mailbox": "INBOX"}, secrets=by_address)


def test_the_plugin_reads_mail_from_the_os_sandbox_through_its_egress_proxy(
    mailbox: tuple[imaplib.IMAP4, dict[str, str]],
) -> None:
    if (problem := sandbox_unavailable()) is not None:
        pytest.skip(f"no OS sandbox here: {problem}")
    conn, secrets = mailbox
    conn.create('"Boxed"')
    deliver(conn, "From outside", box="Boxed")
    by_name = {**secrets, "imap_host": "localhost"}
    with RunnerClient("synthral-connector-email", sandboxed=True) as runner:
        assert runner.sandboxed
        for _ in range(3):  # Dovecot greets first, often with the proxy's answer: still read
            out = runner.invoke("list_messages", {"mailbox": "Boxed"}, context={"secrets": by_name})
            assert [m["subject"] for m in out["messages"]] == ["From outside"]
        refused = {"secrets": secrets, "network": NetworkPolicy.server().to_wire()}
        with pytest.raises(EgressDenied, match="SYNTHRAL_EGRESS_ALLOW"):
            runner.invoke("list_messages", {"mailbox": "Boxed"}, context=refused)
