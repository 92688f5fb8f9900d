"""An SMTP server like a provider's submission port, for crates/testkit's MailSink::secure.

aiosmtpd requiring TLS — STARTTLS before anything else (port 587 style) or TLS from the
first byte (465 style) — and AUTH (PLAIN or LOGIN) with one user and password before it
takes any mail. Each accepted message lands in a Maildir with the headers aiosmtpd's
Mailbox handler adds (X-Peer, X-MailFrom, X-RcptTo) and two more saying how it arrived:
X-Tls (the protocol version, or "none") and X-Authenticated-As (the login).

Usage: smtp_server.py --port N --maildir DIR --cert PEM --key PEM --tls starttls|implicit
       --user U --password P
Prints "ready" once it listens; stops on SIGTERM or when stdin closes.
"""

import argparse
import logging
import signal
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recording(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        # After STARTTLS or with implicit TLS alike, the transport knows the protocol.
        tls = server.transport.get_extra_info("ssl_object") if server.transport else None
        session.tls_version = tls.version() if tls is not None else "none"
        return await super().handle_DATA(server, session, envelope)

    def prepare_message(self, session, envelope):
        message = super().prepare_message(session, envelope)
        message["X-Tls"] = getattr(session, "tls_version", "none")
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        message["X-Authenticated-As"] = login.decode() if login else "nobody"
        return message


def main():
    # aiosmtpd's deprecation notes and policy warnings are noise in test output.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--tls", choices=["starttls", "implicit"], required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == args.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    common = dict(
        handler=Recording(args.maildir),
        hostname="127.0.0.1",
        port=args.port,
        authenticator=authenticate,
        auth_required=True,
    )
    if args.tls == "starttls":
        controller = Controller(
            tls_context=context, require_starttls=True, auth_require_tls=True, **common
        )
    else:
        # The whole connection is TLS; aiosmtpd's own check knows only STARTTLS, so it
        # would hide AUTH from a client that is already encrypted.
        controller = Controller(ssl_context=context, auth_require_tls=False, **common)
    controller.start()
    print("ready", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
