"""A real SMTP server (aiosmtpd) that keeps every message it accepts, for the mail tests.

Started by `testkit::SmtpServer` with the pinned venv's Python. Each accepted message becomes two files in
--maildir: `<n>.eml`, the raw bytes of DATA exactly as received, and `<n>.json`, the envelope (MAIL FROM,
RCPT TO), whether the session was encrypted and who authenticated, and the message as Python's own `email`
parser reads it (so a test checks what a mail client would show, decoded by a parser that is not ours).
The JSON file is renamed into place last: a reader that sees it can read both.

--tls starttls: the server offers STARTTLS and refuses MAIL before it (aiosmtpd's require_starttls).
--tls implicit: the listening socket speaks TLS from the first byte (SMTPS, Django's EMAIL_USE_SSL).
--user/--password: AUTH is required, and offered only once the session is encrypted (auth_require_tls).
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, maildir):
        self.maildir = maildir
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        raw = envelope.original_content or envelope.content
        with open(os.path.join(self.maildir, f"{n:06}.eml"), "wb") as f:
            f.write(raw)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        body = parsed.get_content() if not parsed.is_multipart() else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "authenticated_as": session.auth_data if session.authenticated else None,
            "subject": str(parsed["subject"] or ""),
            "from": str(parsed["from"] or ""),
            "to": str(parsed["to"] or ""),
            "content_type": parsed.get_content_type(),
            "charset": parsed.get_content_charset(),
            "transfer_encoding": str(parsed["content-transfer-encoding"] or ""),
            "body": body.replace("\r\n", "\n") if isinstance(body, str) else None,
        }
        tmp = os.path.join(self.maildir, f"{n:06}.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(tmp, os.path.join(self.maildir, f"{n:06}.json"))
        return "250 Message accepted for delivery"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd answers for us, 235 or 535 5.7.8 Authentication credentials invalid.
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    return check


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    context = None
    if args.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    options = {"hostname": "smtp-sink.test"}
    if args.tls == "starttls":
        options.update(tls_context=context, require_starttls=True)
    if args.user is not None:
        options.update(
            auth_required=True,
            authenticator=authenticator(args.user, args.password or ""),
            # With implicit TLS the whole session is encrypted, but aiosmtpd only counts STARTTLS as TLS.
            auth_require_tls=args.tls == "starttls",
        )

    sink = Sink(args.maildir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(
            lambda: SMTP(sink, loop=loop, **options),
            host="127.0.0.1",
            port=args.port,
            ssl=context if args.tls == "implicit" else None,
        )
    )
    print(f"smtp sink listening on 127.0.0.1:{args.port} (tls={args.tls})", flush=True)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
