"""Transport security of the distributed tuner: where the chief listens, TLS, and a shared token.

keras-tuner's chief serves its oracle on an insecure gRPC port, on the address
`KERASTUNER_ORACLE_IP` names, and answers anyone who connects. Here:

* the chief listens on `127.0.0.1` (this machine only) unless `--oracle-address` names another
  address; `KERASTUNER_ORACLE_IP` stays what the workers dial. Listening on any other address
  without both TLS and a token logs a warning naming the risk and the flags;
* TLS (`--tls-cert FILE --tls-key FILE` on the chief, `grpc.ssl_server_credentials`; `--tls-ca
  FILE`, or the chief's own `--tls-cert`, on the workers, `grpc.ssl_channel_credentials`);
* a shared token (`--token-file FILE`, or the environment variable `ZOO_TUNER_TOKEN`; never a
  flag's value, which any user of the machine can read in the process list): workers send it as
  gRPC metadata on every call (a client interceptor), the chief compares it in constant time
  (`hmac.compare_digest`) and refuses a call without it, or with another, with `UNAUTHENTICATED`.
  A refused worker stops at its first call with one line (`Refused`), it does not wait.

The files are checked (`check_security`) before any work, with the flag in the error; grpc is
imported only when a server or channel is made.

Example:
    >>> from zoo.tuning.transport import check_security
    >>> sec = check_security(role="chief")   # no flags: loopback, no TLS, no token
    >>> sec.address, sec.protected
    ('127.0.0.1', False)
"""

from __future__ import annotations

import collections
import hmac
import ipaddress
import logging
import os
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["LOOPBACK", "TOKEN_ENV", "TOKEN_METADATA", "Refused", "Security", "check_security",
           "role_from_env", "is_loopback", "protection_warning", "chief_server", "worker_channel",
           "probe_chief", "reach_chief"]

LOOPBACK = "127.0.0.1"
TOKEN_ENV = "ZOO_TUNER_TOKEN"
TOKEN_METADATA = "x-zoo-tuner-token"  # gRPC metadata keys are lower case
FLAGS = ("oracle_address", "tls_cert", "tls_key", "tls_ca", "token_file")

logger = logging.getLogger(__name__)


class Refused(RuntimeError):
    """A worker the chief refused (wrong or missing token) or could not reach in time."""


@dataclass(frozen=True)
class Security:
    """How the chief listens and how workers reach it (see the module's docstring).

    `token` is bytes, never shown by `repr`; `tls_root` is what a worker trusts (`tls_ca`, or
    the chief's `tls_cert` when no CA is given)."""

    address: str = LOOPBACK
    tls_cert: Optional[str] = None
    tls_key: Optional[str] = None
    tls_ca: Optional[str] = None
    token: Optional[bytes] = field(default=None, repr=False)

    @property
    def tls_root(self):
        return self.tls_ca or self.tls_cert

    @property
    def protected(self):
        return bool(self.tls_cert and self.tls_key and self.token)


def _read_pem(path, flag, marker):
    if not os.path.isfile(path):
        raise ValueError(f"`{flag}` must be an existing PEM file. Received: {flag}={path!r}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"`{flag}` could not be read ({e.strerror}). Received: {flag}={path!r}") from None
    if b"-----BEGIN " not in data or marker not in data:
        raise ValueError(f"`{flag}` must be a PEM file holding a {marker.decode().lower()}. "
                         f"Received: {flag}={path!r}")
    return data


def _check_token(raw, where):
    token = raw.strip()
    if not token or any(c < 0x21 or c > 0x7E for c in token):
        raise ValueError(f"The tuner token ({where}) must be one word of printable ASCII "
                         f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`). "
                         f"Received: a token of {len(token)} characters")
    return token


def check_security(*, oracle_address=None, tls_cert=None, tls_key=None, tls_ca=None,
                   token_file=None, role="chief", environ=None) -> Security:
    """The checked settings of one process, before any work (`ValueError` naming the flag).

    Args:
        oracle_address: where the chief listens (default `127.0.0.1`).
        tls_cert, tls_key: the chief's certificate and private key (PEM), given together.
        tls_ca: what a worker trusts (PEM; default: `tls_cert`).
        token_file: a file holding the shared token (default: `$ZOO_TUNER_TOKEN`, if set).
        role: `"chief"`, `"worker"`, or None (not a distributed search: then no flag applies).
        environ: the environment (default `os.environ`).
    """
    environ = os.environ if environ is None else environ
    given = {k: v for k, v in zip(FLAGS, (oracle_address, tls_cert, tls_key, tls_ca, token_file))
             if v is not None}
    if tls_cert is not None:
        _read_pem(tls_cert, "tls_cert", b"CERTIFICATE")
    if tls_key is not None:
        _read_pem(tls_key, "tls_key", b"PRIVATE KEY")
    if tls_ca is not None:
        _read_pem(tls_ca, "tls_ca", b"CERTIFICATE")
    token = None
    if token_file is not None:
        if not os.path.isfile(token_file):
            raise ValueError(f"`token_file` must be an existing file. Received: token_file={token_file!r}")
        with open(token_file, "rb") as f:
            token = _check_token(f.read(), "token_file")
    elif role is not None and environ.get(TOKEN_ENV):  # not distributed: the variable is not read
        token = _check_token(environ[TOKEN_ENV].encode("utf-8", "replace"), TOKEN_ENV)
    if role is None:
        if given:
            names = ", ".join(f"{k}={v!r}" for k, v in given.items())
            raise ValueError("`oracle_address`, `tls_cert`, `tls_key`, `tls_ca` and `token_file` are "
                             "for a distributed search (KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP "
                             f"and KERASTUNER_ORACLE_PORT set). Received: {names}")
        return Security(token=token)
    if role == "chief" and (tls_cert is None) != (tls_key is None):
        raise ValueError("`tls_cert` and `tls_key` go together on the chief. Received: "
                         f"tls_cert={tls_cert!r}, tls_key={tls_key!r}")
    if role == "chief" and tls_cert is not None:
        _check_key_pair(tls_cert, tls_key)
    address = oracle_address if oracle_address is not None else LOOPBACK
    if not address.strip() or any(c.isspace() for c in address):
        raise ValueError(f"`oracle_address` must be a host name or IP address. "
                         f"Received: oracle_address={oracle_address!r}")
    if "KERASTUNER_ORACLE_IP" in environ:  # a distributed search: its port, free on the chief
        port = _oracle_port(environ)
        if role == "chief":
            _check_free(address, port)
    return Security(address=address, tls_cert=tls_cert, tls_key=tls_key, tls_ca=tls_ca, token=token)


def _check_key_pair(tls_cert, tls_key):
    """ValueError unless `tls_key` is the private key of `tls_cert` (checked by loading them as
    a server would, before any work)."""
    import ssl

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(tls_cert, tls_key)
    except (ssl.SSLError, OSError) as e:
        why = "the key is not the certificate's" if "MISMATCH" in str(e).upper() else str(e)
        raise ValueError(f"`tls_key` must be the private key of `tls_cert` (unencrypted PEM); {why}. "
                         f"Received: tls_cert={tls_cert!r}, tls_key={tls_key!r}") from None


def _oracle_port(environ) -> int:
    """`KERASTUNER_ORACLE_PORT` as an integer in 1..65535, else a ValueError naming it."""
    raw = environ.get("KERASTUNER_ORACLE_PORT")
    try:
        port = int(raw)
    except (TypeError, ValueError):
        port = None
    if port is None or not 1 <= port <= 65535:
        raise ValueError("`KERASTUNER_ORACLE_PORT` must be a port number from 1 to 65535 (a "
                         f"distributed search). Received: KERASTUNER_ORACLE_PORT={raw!r}")
    return port


def _check_free(address, port):
    """ValueError unless the chief can listen on `address:port` (a free port of this machine)."""
    import socket

    try:
        infos = socket.getaddrinfo(address.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ValueError(f"`oracle_address` must be a host name or IP address of this machine; "
                         f"{e.strerror}. Received: oracle_address={address!r}") from None
    family, kind, proto, _, where = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed chief's TIME_WAIT is free
        try:
            probe.bind(where)
        except OSError as e:
            raise ValueError(f"The tuner's chief cannot listen on {_host_port(address, port)} "
                             f"({e.strerror}): `KERASTUNER_ORACLE_PORT` must be a free port and "
                             f"`oracle_address` an address of this machine. Received: "
                             f"KERASTUNER_ORACLE_PORT={port}, oracle_address={address!r}") from None


def role_from_env(environ=None) -> Optional[str]:
    """`"chief"` or `"worker"` in a distributed search (keras-tuner's variables), else None."""
    environ = os.environ if environ is None else environ
    if "KERASTUNER_ORACLE_IP" not in environ:
        return None
    return "chief" if "chief" in environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def is_loopback(address) -> bool:
    """True for `localhost` and the loopback addresses (127.0.0.0/8, ::1)."""
    host = address.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def protection_warning(security: Security) -> Optional[str]:
    """The warning for a chief listening beyond this machine without TLS and a token, or None."""
    if is_loopback(security.address) or security.protected:
        return None
    missing = [what for what, ok in (("TLS (--tls-cert, --tls-key)", security.tls_cert),
                                     (f"a token (--token-file or {TOKEN_ENV})", security.token)) if not ok]
    return (f"the tuner's chief listens on {security.address} without {' or '.join(missing)}: anyone "
            "who can reach this port can read the search and its trials and send it results. Give "
            "--tls-cert/--tls-key on the chief (--tls-ca on the workers) and a shared --token-file, "
            "or listen on 127.0.0.1 (the default, no --oracle-address).")


def _host_port(address, port):
    host = address if ":" not in address or address.startswith("[") else f"[{address}]"
    return f"{host}:{port}"


def _token_sender(token):
    import grpc

    fields = ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")

    class Details(collections.namedtuple("Details", fields), grpc.ClientCallDetails):
        pass

    class TokenSender(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            metadata = list(details.metadata or ()) + [(TOKEN_METADATA, token.decode("ascii"))]
            details = Details(details.method, details.timeout, metadata, details.credentials,
                               getattr(details, "wait_for_ready", None),
                               getattr(details, "compression", None))
            return continuation(details, request)

    return TokenSender()


def _token_check(token):
    import grpc

    def deny(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED,
                      "the tuner's chief needs the shared token (--token-file or ZOO_TUNER_TOKEN)")

    denied = grpc.unary_unary_rpc_method_handler(deny)

    class TokenCheck(grpc.ServerInterceptor):
        def intercept_service(self, continuation, handler_call_details):
            sent = dict(handler_call_details.invocation_metadata or ()).get(TOKEN_METADATA, "")
            sent = sent.encode("utf-8", "replace") if isinstance(sent, str) else bytes(sent)
            if hmac.compare_digest(sent, token):
                return continuation(handler_call_details)
            return denied

    return TokenCheck()


def chief_server(add_servicer, security: Security, port, max_workers=4):
    """A started gRPC server listening on `security.address:port` (`port` 0: a free one), and the
    port: TLS when a certificate is given, the token checked on every call when one is set.
    `add_servicer(server)` adds the services; a warning is logged when the chief is reachable from
    other machines without TLS and a token."""
    from concurrent import futures

    import grpc

    interceptors = [_token_check(security.token)] if security.token else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), interceptors=interceptors)
    add_servicer(server)
    target = _host_port(security.address, port)
    try:
        if security.tls_cert:
            with open(security.tls_key, "rb") as k, open(security.tls_cert, "rb") as c:
                credentials = grpc.ssl_server_credentials([(k.read(), c.read())])
            bound = server.add_secure_port(target, credentials)
        else:
            bound = server.add_insecure_port(target)
    except RuntimeError as e:
        bound, why = 0, e
    else:
        why = "the address is not this machine's or the port is taken"
    if not bound:
        raise OSError(f"the tuner's chief could not listen on {target}: {why}")
    warning = protection_warning(security)
    if warning:
        logger.warning(warning)
    server.start()
    return server, bound


def worker_channel(target, security: Security):
    """A channel to the chief at `target` (`host:port`): TLS trusting `security.tls_root` when
    set, and sending the token with every call when one is set."""
    import grpc

    if security.tls_root:
        with open(security.tls_root, "rb") as f:
            channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=f.read()))
    else:
        channel = grpc.insecure_channel(target)
    if security.token:
        channel = grpc.intercept_channel(channel, _token_sender(security.token))
    return channel


GET_SPACE = "/keras_tuner.Oracle/GetSpace"  # keras-tuner's service; an empty request is valid


def probe_chief(channel, target, timeout):
    """One call the chief must answer (its search space), waiting up to `timeout` seconds for it
    to start: `Refused` with one line when it refuses this worker or cannot be reached. Needs no
    keras-tuner; `run_search` calls it once the worker's own arguments are checked, before the
    worker asks for a trial."""
    import grpc

    get_space = channel.unary_unary(GET_SPACE, request_serializer=bytes, response_deserializer=bytes)
    try:
        get_space(b"", wait_for_ready=True, timeout=timeout)
    except grpc.RpcError as e:
        code = e.code() if hasattr(e, "code") else None
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise Refused(f"the tuner's chief at {target} refused this worker: UNAUTHENTICATED "
                          f"(a missing or wrong token: --token-file or {TOKEN_ENV})") from None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise Refused(f"the tuner's chief at {target} did not answer within {timeout:.0f}s: is it "
                          "running, listening there (--oracle-address), and do TLS flags match "
                          "(--tls-ca on workers when the chief has --tls-cert)?") from None
        detail = e.details() if hasattr(e, "details") else str(e)
        raise Refused(f"the tuner's chief at {target} failed: {code.name if code else ''} "
                      f"{detail}".strip()) from None


def reach_chief(security: Security, timeout, environ=None):
    """A worker's channel to the chief (`KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT`), once the
    chief has answered it (`probe_chief`)."""
    environ = os.environ if environ is None else environ
    target = _host_port(environ["KERASTUNER_ORACLE_IP"], environ["KERASTUNER_ORACLE_PORT"])
    channel = worker_channel(target, security)
    try:
        probe_chief(channel, target, timeout)
    except Refused:
        channel.close()
        raise
    return channel
