"""TLS for the SendGrid stand-in: its server socket speaks TLS with a throwaway certificate
(tests/support/certs.py), each handshake in its connection's own thread."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from tests.support.certs import make_certificates
from tests.support.sendgrid_standin import SendGridStandIn


def speak_tls(standin: SendGridStandIn, directory: Path) -> Path:
    """Makes the running stand-in answer over TLS; returns the CA file a client must trust
    (SSL_CERT_FILE), written in `directory`."""
    certificates = make_certificates(directory)
    server = standin.server
    # The handshake in each connection's own thread, not in the loop that accepts.
    server.socket = certificates.server_context().wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    answer = server.finish_request

    def finish_request(request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        answer(request, client_address)

    server.finish_request = finish_request  # type: ignore[method-assign]
    return certificates.ca_file
