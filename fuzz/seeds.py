#!/usr/bin/env python3
"""Writes the committed seed corpora, fuzz/corpus/<target>/, from the examples in the crates'
tests and the TLS-RPT samples of crates/core/tests/tlsrpt/data/. Run it from anywhere
(python3 fuzz/seeds.py); it replaces the seeds it writes and leaves other files alone.
Seeds are named after what they hold, so that a second run changes nothing."""

import base64
import gzip
import io
import os
import struct
import zipfile

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
TLSRPT_DATA = os.path.join(ROOT, "crates", "core", "tests", "tlsrpt", "data")


def write(target, name, data):
    d = os.path.join(FUZZ, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- dns_wire: queries as resolvers send them (RFC 1035 §4, EDNS0 from RFC 6891) ---

ZONE = "sts.example.net"
TYPES = {"A": 1, "NS": 2, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "ANY": 255}


def name(dotted):
    out = b""
    for label in filter(None, dotted.split(".")):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qname, qtype, edns=1232, qid=0xBEEF, flags=0x0100, qclass=1, version=0, extra=b""):
    counts = (1, 0, 0, 1 if edns is not None else 0)
    msg = struct.pack("!HH4H", qid, flags, *counts)
    msg += name(qname) + struct.pack("!HH", TYPES.get(qtype, qtype), qclass)
    if edns is not None:
        # OPT: root owner, type 41, class = payload, TTL = ext-rcode/version/flags, rdata.
        msg += b"\0" + struct.pack("!HHBBHH", 41, edns, 0, version, 0x8000, len(extra)) + extra
    return msg


for qname, qtype in [
    (ZONE, "SOA"),
    (ZONE, "NS"),
    (ZONE, "ANY"),
    ("ns1." + ZONE, "A"),
    ("ns1." + ZONE, "AAAA"),
    ("abc123.edge." + ZONE, "A"),
    ("abc123.edge." + ZONE, "AAAA"),
    ("_mta-sts.abc123.policy." + ZONE, "TXT"),
    ("_smtp._tls.abc123.report." + ZONE, "TXT"),
    ("reports." + ZONE, "MX"),
    ("pending.edge." + ZONE, "A"),
    ("nope.edge." + ZONE, "A"),
    ("example.com", "A"),
]:
    label = qname.replace(ZONE, "zone").replace(".", "_")
    write("dns_wire", f"{label}-{qtype.lower()}", query(qname, qtype))
write("dns_wire", "no-edns-txt", query("_mta-sts.abc123.policy." + ZONE, "TXT", edns=None))
write("dns_wire", "mixed-case", query("_MTA-STS.ABC123.Policy.STS.Example.NET", "TXT"))
write("dns_wire", "edns-version-1", query(ZONE, "SOA", version=1))
write("dns_wire", "edns-cookie", query(ZONE, "SOA", extra=struct.pack("!HH", 10, 8) + b"\x01" * 8))
write("dns_wire", "class-chaos", query(ZONE, "SOA", qclass=3))
write("dns_wire", "opcode-notify", query(ZONE, "SOA", flags=0x2000))
write("dns_wire", "response", query(ZONE, "SOA", flags=0x8180))
write("dns_wire", "no-question", struct.pack("!HH4H", 1, 0x0100, 0, 0, 0, 0))
write("dns_wire", "header-only-short", b"\xbe\xef\x01\x00\x00\x01")
two = bytearray(query(ZONE, "SOA", edns=None))
two[5] = 2
write("dns_wire", "two-questions", bytes(two) + name(ZONE) + struct.pack("!HH", 1, 1))
# An answer record with a compressed owner, as in a query that carries one (RFC 7873 aside).
rec = bytearray(query(ZONE, "A", edns=None))
rec[7] = 1
write("dns_wire", "answer-pointer", bytes(rec) + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\xc0\x00\x02\x01")

# --- policy: policy files from crates/core/src/policy_parse.rs's tests ---

CANONICAL = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"
for i, text in enumerate([
    CANONICAL,
    CANONICAL.replace("\r\n", "\n"),
    "version: STSv1\nmode: enforce\r\nmx: mail.example.com\nmx: *.example.net\r\nmax_age: 604800",
    "mode:enforce\r\nmax_age:\t604800 \r\nmx: mail.example.com\t\r\nversion: STSv1  \r\nmx:*.example.net\r\n",
    "version: STSv1\nx-note: hello: world\nmode: enforce\nmx: MAIL.example.com\nmx: *.example.net\nmax_age: 604800\nfoo.bar_1-x:\n",
    "version: STSv1\nversion: STSv1\nmode: enforce\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\nmax_age: 604800\n",
    "version: STSv1\nmode: none\nmax_age: 0\n",
    "Version: STSv1\nMode: enforce\nMX: mail.example.com\nMAX_AGE: 1\n",
    "version: STSv1\nMode: Enforce\nmx: mail.example.com\nmax_age: 1\n",
    "\r\nversion: STSv1\n  mode: testing\n\t\n\tmx: mail.example.com\n\nmax_age: 1\n",
    "version: STSv1\nmode: testing\nmx: mail.bücher.example.\nmx: MAIL.bücher.example\nmax_age: 99999999999\n",
    "version: STSv1\nmode: enforce\nmode: testing\nmx: a.example\nmax_age: 86400\nmax_age: 3600\n",
    "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
    "version: STSv1\nmode: enforce\nmax_age: 1\n",
    "version: STSv1\nmode: enforce\nmx: *.com\nmax_age: 1\n",
    "version: STSv1\nmode enforce\n",
    "\ufeffversion: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
]):
    write("policy", f"policy-{i:02}", text)

# --- txt: _mta-sts and _smtp._tls records and rua URIs from crates/core/src/txt.rs's tests ---

for i, text in enumerate([
    "v=STSv1; id=20261122T174417;",
    "v=STSv1;id=abc123",
    "v=STSv1 ;\tid=abc123 ; ",
    "v=STSv1; ext=foo; id=abc123; other.ext_1=x=y;",
    "v=STSv1;; id=abc123;;",
    "v=STSv1; id=a; id=b",
    "v=STSv1; id=abc-1;",
    "v=TLSRPTv1; rua=mailto:tlsrpt@example.com",
    "v=TLSRPTv1; rua=mailto:a@x.example,https://reports.example.com/v1/tlsrpt",
    "v=TLSRPTv1;rua=mailto:a%2Cb@example.com?subject=TLS%20report;",
    "v=TLSRPTv1; rua=https://192.0.2.1/r; ext=1",
    "v=TLSRPTv1; rua=mailto:abc123@reports.sts.example.net,https://reports.sts.example.net/v1/tlsrpt/abc123",
    "mailto:a@x.example,b@y.example",
    "https://example.com/a,b!c;d",
    "MAILTO:a@bücher.example",
    "https://exa mple.com",
]):
    write("txt", f"txt-{i:02}", text)

# --- mx_pattern: pattern, newline, host ---

for i, text in enumerate([
    "mail.example.com\nmail.example.com",
    "*.example.com\nmx1.example.com",
    "*.example.com\nexample.com",
    "*.example.com\na.b.example.com",
    " *.Example.com. \nMX1.EXAMPLE.COM.",
    "*.bücher.example\nmx.xn--bcher-kva.example",
    "*.example.co.uk\nmx.example.co.uk",
    "mail.*.example.com\nmail.x.example.com",
    "*.com\nexample.com",
    "1.2.3.4\n1.2.3.4",
    "a..b\na..b",
    "mx_1.example.com\nmx_1.example.com",
]):
    write("mx_pattern", f"mx-{i:02}", text)

# --- domain: names from crates/core/src/domain.rs's tests ---

for i, text in enumerate([
    "example.com",
    "Mail.Example.COM.",
    "bücher.example",
    "xn--bcher-kva.example",
    "例え.テスト",
    "a\u3002b\uff0ec",
    "mta-sts.example.co.uk",
    "co.uk",
    "localhost",
    "192.0.2.1",
    "[2001:db8::1]",
    "a..b",
    "-a.example",
    "xn--a.example",
    "a" * 63 + ".example",
    ".".join(["a" * 63] * 3) + "." + "b" * 61,
    "ß.example",
]):
    write("domain", f"domain-{i:02}", text)

# --- edge_http: method, target, Host, SNI (one per line) ---

EDGE = "mta-sts.example.com"
for i, text in enumerate([
    f"GET\n/.well-known/mta-sts.txt\n{EDGE}\n{EDGE}",
    f"HEAD\n/.well-known/mta-sts.txt\n{EDGE}:443\n{EDGE}",
    f"GET\nhttps://{EDGE}/.well-known/mta-sts.txt\n\n{EDGE}",
    f"GET\n/.well-known/mta-sts.txt\nMTA-STS.Example.COM.\n{EDGE}",
    f"GET\n/.well-known/mta-sts.txt\nother.example\n{EDGE}",
    f"POST\n/.well-known/mta-sts.txt\n{EDGE}\n{EDGE}",
    f"GET\n/\n{EDGE}\n{EDGE}",
    "GET\n/.well-known/acme-challenge/token-abc\nmta-sts.example.org\n",
    "GET\n/.well-known/acme-challenge/unknown\nmta-sts.example.org\n",
    "GET\n/some/path?q=1\nmta-sts.example.org:80\n",
    "GET\n/x\nevil.example/..\n",
    "GET\n*\n[::1]:80\n",
    "OPTIONS\n/\n\n",
]):
    write("edge_http", f"req-{i:02}", text)

# --- tls_hello: first TLS records (ClientHello with and without server_name) ---


def client_hello(names):
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    exts = b""
    if names is not None:
        entries = b"".join(b"\x00" + struct.pack("!H", len(n)) + n for n in names)
        sni = struct.pack("!H", len(entries)) + entries
        exts += struct.pack("!HH", 0, len(sni)) + sni
    exts += struct.pack("!HH", 43, 3) + b"\x02\x03\x04"  # supported_versions: TLS 1.3
    body += struct.pack("!H", len(exts)) + exts
    msg = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(msg)) + msg


write("tls_hello", "sni-host", client_hello([EDGE.encode()]))
write("tls_hello", "sni-ip", client_hello([b"192.0.2.1"]))
write("tls_hello", "sni-underscore", client_hello([b"bad_name.example"]))
write("tls_hello", "sni-two", client_hello([b"a.example", b"b.example"]))
write("tls_hello", "no-sni", client_hello(None))
write("tls_hello", "server-hello", b"\x16\x03\x03\x00\x04\x02\x00\x00\x00")
write("tls_hello", "alert", b"\x15\x03\x03\x00\x02\x02\x28")
write("tls_hello", "http", b"GET / HTTP/1.1\r\n")

# --- smtp_command: a client's command lines ---

for i, text in enumerate([
    "EHLO client.example\r\n",
    "HELO client.example\r\n",
    "ehlo [192.0.2.1]\r\n",
    "STARTTLS\r\n",
    "MAIL FROM:<reports@reporter.example> SIZE=12345 BODY=8BITMIME\r\n",
    "MAIL FROM:<>\r\n",
    "mail from:<@relay.example:a@b.example>\r\n",
    "MAIL FROM:<a@b> SIZE=x\r\n",
    "RCPT TO:<abc123@reports.sts.example.net>\r\n",
    "rcpt to:<ABC123@Reports.STS.Example.NET.> NOTIFY=NEVER\r\n",
    "RCPT TO:<postmaster>\r\n",
    "DATA\r\n",
    "RSET\r\nNOOP\r\nVRFY x\r\nHELP\r\nQUIT\r\n",
    "EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<abc123@reports.sts.example.net>\r\nDATA\r\n",
    "\xff\xfeEHLO\n",
]):
    write("smtp_command", f"cmd-{i:02}", text.encode("latin-1") if "\xff" in text else text)

# --- tlsrpt and smtp_message: the TLS-RPT samples, and mail around them ---

samples = []
for root, _, files in os.walk(TLSRPT_DATA):
    for f in sorted(files):
        if f.endswith((".json", ".gz")):
            with open(os.path.join(root, f), "rb") as fh:
                samples.append((f, fh.read()))
for f, data in samples:
    write("tlsrpt", f, data)
with open(os.path.join(TLSRPT_DATA, "rfc8460-example.json"), "rb") as fh:
    REPORT = fh.read()
write("tlsrpt", "bom-and-space.json", b"\xef\xbb\xbf \n" + REPORT)
write("tlsrpt", "deep.json", b'{"a":' + b"[" * 40 + b"]" * 40 + b"}")
write("tlsrpt", "not-a-report", b"hello")
write("tlsrpt", "gzip-truncated", gzip.compress(REPORT, mtime=0)[:40])


def mail(part_type, encoding, body, filename="report.json"):
    return (
        "From: reports@reporter.example\r\nTo: abc123@reports.sts.example.net\r\n"
        "Subject: Report Domain: example.com Submitter: reporter.example Report-ID: <r-9>\r\n"
        "TLS-Report-Domain: example.com\r\nTLS-Report-Submitter: reporter.example\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type="tlsrpt"; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThis is a report.\r\n"
        f"--b\r\nContent-Type: {part_type}\r\nContent-Transfer-Encoding: {encoding}\r\n"
        f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n{body}\r\n--b--\r\n'
    ).encode()


def b64(data):
    text = base64.b64encode(data).decode()
    return "\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))


zipped = io.BytesIO()
with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr(zipfile.ZipInfo("report.json", (2026, 11, 20, 0, 0, 0)), REPORT)
write("smtp_message", "gzip-base64.eml", mail("application/tlsrpt+gzip", "base64", b64(gzip.compress(REPORT, mtime=0)), "report.json.gz"))
write("smtp_message", "json-7bit.eml", mail("application/tlsrpt+json", "7bit", REPORT.decode()))
write("smtp_message", "json-octet-stream.eml", mail("application/octet-stream", "base64", b64(REPORT)))
write("smtp_message", "zip-base64.eml", mail("application/zip", "base64", b64(zipped.getvalue()), "report.zip"))
write("smtp_message", "text-only.eml", "From: a@b.example\r\nSubject: hi\r\n\r\nno report here\r\n")
with open(os.path.join(TLSRPT_DATA, "parsedmarc", "google.com_smtp_tls_report.eml"), "rb") as fh:
    write("smtp_message", "google.com_smtp_tls_report.eml", fh.read())
