"""The distributed tuner on a cluster (issue 15, point 5): the chief listens on loopback unless
told otherwise and warns when it listens elsewhere unprotected; TLS and a shared token; a worker
without the token, or with another, is refused with UNAUTHENTICATED and exits at once."""

import datetime
import ipaddress
import logging
import os
import socket
import subprocess
import sys
import time

import pytest

import _spawn
from zoo.tuning import transport

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _self_signed(folder):
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "chief.pem", folder / "chief.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def files(tmp_path):
    cert, key = _self_signed(tmp_path)
    (tmp_path / "token").write_text("s3cret-token_0123456789\n")
    (tmp_path / "wrong").write_text("not-the-token\n")
    return {"cert": cert, "key": key, "token": str(tmp_path / "token"), "wrong": str(tmp_path / "wrong")}


def test_default_bind_is_loopback_and_unprotected_addresses_warn(files, caplog):
    sec = transport.check_security(role="chief", environ={})
    assert sec.address == "127.0.0.1" and not sec.protected and sec.token is None
    assert transport.protection_warning(sec) is None
    for host in ("localhost", "127.0.0.2", "::1", "[::1]"):
        assert transport.is_loopback(host), host
    wide = transport.check_security(role="chief", oracle_address="0.0.0.0", environ={})
    warning = transport.protection_warning(wide)
    assert "0.0.0.0" in warning and "--tls-cert" in warning and "--token-file" in warning
    half = transport.check_security(role="chief", oracle_address="0.0.0.0", token_file=files["token"])
    assert "--tls-cert" in transport.protection_warning(half)
    assert "--token-file" not in transport.protection_warning(half).split(" without ")[1].split(":")[0]
    full = transport.check_security(role="chief", oracle_address="0.0.0.0", tls_cert=files["cert"],
                                    tls_key=files["key"], token_file=files["token"])
    assert full.protected and transport.protection_warning(full) is None
    assert "s3cret" not in repr(full)  # the token is never shown
    env = transport.check_security(role="worker", environ={transport.TOKEN_ENV: "abc"})
    assert env.token == b"abc" and env.tls_root is None
    assert transport.check_security(role="worker", tls_cert=files["cert"]).tls_root == files["cert"]

    # the server itself warns (a token, so the few milliseconds it listens answer nobody)
    with caplog.at_level(logging.WARNING, logger="zoo.tuning.transport"):
        server, port = transport.chief_server(lambda s: None, half, 0)
        server.stop(None)
    assert port > 0
    assert any("0.0.0.0" in r.getMessage() and "--tls-cert" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zoo.tuning.transport"):
        server, _ = transport.chief_server(lambda s: None, sec, 0)
        server.stop(None)
    assert not caplog.records


@pytest.mark.parametrize("flags,what", [
    ({"tls_cert": "nowhere.pem"}, "tls_cert"),
    ({"tls_key": "token"}, "tls_key"),  # not a PEM key
    ({"tls_ca": "nowhere.pem"}, "tls_ca"),
    ({"token_file": "nowhere"}, "token_file"),
    ({"tls_cert": "cert"}, "tls_key"),  # the chief needs both
    ({"oracle_address": "a b"}, "oracle_address"),
])
def test_bad_settings_name_the_flag(files, flags, what):
    flags = {k: files.get(v, v) for k, v in flags.items()}
    with pytest.raises(ValueError, match=what):
        transport.check_security(role="chief", environ={}, **flags)
    with pytest.raises(ValueError, match="distributed search"):  # not distributed: no flag applies
        transport.check_security(role=None, tls_cert=files["cert"], environ={})


def test_tls_and_token_in_process(files):
    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import hyperparameters as hp_module

    class Oracle:
        def get_space(self):
            hp = hp_module.HyperParameters()
            hp.Choice("units", [4, 8])
            return hp

    chief = transport.check_security(role="chief", tls_cert=files["cert"], tls_key=files["key"],
                                     token_file=files["token"])
    server, port = transport.chief_server(
        lambda s: protos.get_service_grpc().add_OracleServicer_to_server(
            oracle_chief.OracleServicer(Oracle()), s), chief, 0)
    target = f"127.0.0.1:{port}"
    env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    try:
        def channel(**flags):
            return transport.worker_channel(target, transport.check_security(role="worker", environ={},
                                                                             **flags))

        good = transport.reach_chief(transport.check_security(
            role="worker", tls_ca=files["cert"], token_file=files["token"]), 10, environ=env)
        space = protos.get_service_grpc().OracleStub(good).GetSpace(
            protos.get_service().GetSpaceRequest(), timeout=10)
        assert hp_module.HyperParameters.from_proto(space.hyperparameters).get("units") == 4
        for flags in ({"tls_ca": files["cert"]}, {"tls_ca": files["cert"], "token_file": files["wrong"]}):
            t0 = time.time()
            with pytest.raises(transport.Refused, match="UNAUTHENTICATED"):
                transport.probe_chief(channel(**flags), target, 30)
            assert time.time() - t0 < 10  # refused at once, not at the deadline
            with pytest.raises(grpc.RpcError) as e:  # and every call, not only the first
                protos.get_service_grpc().OracleStub(channel(**flags)).GetSpace(
                    protos.get_service().GetSpaceRequest(), timeout=10)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(transport.Refused, match="did not answer within 2s"):  # no TLS
            transport.probe_chief(channel(token_file=files["token"]), target, 2)
    finally:
        server.stop(None)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_with_tls_and_token_refuse_a_worker_without_it(tmp_path, files):
    port = str(_free_port())
    tls = ["--tls-cert", files["cert"], "--tls-key", files["key"]]
    cmd = [sys.executable, "-m", "zoo.cli", "tune", "_tuning_standins:conditional_spec", "--tuner", "grid",
           "--set", "cell=gru", "--directory", str(tmp_path / "tune"), "--export-dir", str(tmp_path / "sm"),
           "--steps-per-epoch", "2", "--eval-examples", "32", "--time-limit", "150", "--no-export"]
    base = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]),
                TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow", KERASTUNER_ORACLE_IP="127.0.0.1",
                KERASTUNER_ORACLE_PORT=port)
    base.pop(transport.TOKEN_ENV, None)
    runs = {  # tuner id, extra flags, extra environment
        "chief": ("chief", [*tls, "--token-file", files["token"]], {}),
        "tuner0": ("tuner0", [*tls, "--token-file", files["token"]], {}),  # trusts the chief's cert
        "tuner1": ("tuner1", ["--tls-ca", files["cert"]], {transport.TOKEN_ENV: "s3cret-token_0123456789"}),
        "no_token": ("tuner2", ["--tls-ca", files["cert"]], {}),
        "wrong_token": ("tuner3", ["--tls-ca", files["cert"], "--token-file", files["wrong"]], {}),
    }
    procs, outs, took = {}, {}, {}
    t0 = time.time()
    for key, (tid, flags, env) in runs.items():
        procs[key] = _spawn.Popen([*cmd, *flags], env=dict(base, KERASTUNER_TUNER_ID=tid, **env),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for key in ("no_token", "wrong_token", "tuner0", "tuner1", "chief"):
            outs[key] = procs[key].communicate(timeout=200)[0]
            took[key] = time.time() - t0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    for key in ("no_token", "wrong_token"):
        out = outs[key]
        assert procs[key].returncode == 1, (key, out[-3000:])
        errors = [line for line in out.splitlines() if "error" in line]
        assert len(errors) == 1 and "UNAUTHENTICATED" in errors[0] and "Traceback" not in out, out[-3000:]
        assert took[key] < took["chief"], took  # refused at once, not held until the search ends
    for key in ("chief", "tuner0", "tuner1"):
        assert procs[key].returncode == 0, (key, outs[key][-3000:])
    md = (tmp_path / "tune" / "tiny_cond_grid" / "trials.md").read_text()
    assert md.count("| COMPLETED |") == 2  # gru x 2 learning rates
    assert "listens on" not in outs["chief"]  # loopback: no warning
