//! The copy's format on its own: rows made here, no store.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use stsd_core::{DomainName, Label, PolicyId};
use stsd_store::{Certificate, DomainId, DomainState, LiveId, ServedDomain, ServiceCertificate};
use time::OffsetDateTime;

use super::rows::{from_ms, pem_chain};
use super::*;
use crate::build::build;

fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

fn at(ms: i64) -> OffsetDateTime {
    from_ms(ms).unwrap()
}

/// A self-signed chain for `host` and its key, sealed under `master`.
fn chain_and_key(host: &str, master: &MasterKey) -> (String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), master.seal(&key.serialize_der()).unwrap())
}

fn served(
    id: &str,
    name: &str,
    label: &str,
    state: DomainState,
    master: &MasterKey,
) -> ServedDomain {
    let (chain_pem, key_ciphertext) = chain_and_key(&format!("mta-sts.{name}"), master);
    ServedDomain {
        domain_id: DomainId::from_raw(id),
        name: DomainName::parse_host(name).unwrap(),
        label: Label::from_str(label).unwrap(),
        state,
        policy_body: Some(format!(
            "version: STSv1\r\nmode: testing\r\nmx: mx.{name}\r\nmax_age: 86400\r\n"
        )),
        live_ids: vec![
            LiveId {
                id: PolicyId::from_str("20261122T174417").unwrap(),
                seq: 7,
                live_at_ms: 1_700_000_000_000,
            },
            LiveId {
                id: PolicyId::from_str("20261121T101010").unwrap(),
                seq: 3,
                live_at_ms: 1_699_000_000_000,
            },
        ],
        certificate: Some(Certificate {
            id: format!("cert-{id}"),
            domain_id: DomainId::from_raw(id),
            chain_pem,
            key_ciphertext,
            key_id: master.id().to_owned(),
            not_before: at(1_690_000_000_000),
            not_after: at(1_990_000_000_000),
            created_at: at(1_690_000_001_000),
        }),
        extra_rua: vec![format!("mailto:tls@{name}")],
    }
}

/// Rows with two served registrations, one verified without a certificate, challenges and a
/// service certificate.
fn rows(master: &MasterKey) -> Rows {
    let (chain_pem, key_ciphertext) = chain_and_key("reports.sts.test.example", master);
    Rows {
        seq: 42,
        domains: vec![
            served(
                "d1",
                "alpha.example",
                "k7q2m9x4ca",
                DomainState::Active,
                master,
            ),
            served(
                "d2",
                "beta.example",
                "k7q2m9x4cb",
                DomainState::Offboarding,
                master,
            ),
            ServedDomain {
                certificate: None,
                policy_body: None,
                live_ids: Vec::new(),
                ..served(
                    "d3",
                    "gamma.example",
                    "k7q2m9x4cc",
                    DomainState::Verified,
                    master,
                )
            },
        ],
        challenges: vec![("tok-1".to_owned(), "tok-1.thumb".to_owned())],
        tls_alpn: vec![("mta-sts.gamma.example".to_owned(), "0f".repeat(32))],
        service: vec![ServiceCertificate {
            host: "reports.sts.test.example".to_owned(),
            chain_pem,
            key_ciphertext,
            key_id: master.id().to_owned(),
            not_before: at(1_690_000_000_000),
            not_after: at(1_990_000_000_000),
        }],
    }
}

fn master() -> MasterKey {
    MasterKey::from_bytes([9; 32])
}

fn snapshot(master: &MasterKey) -> Snapshot {
    build(rows(master), master, &provider())
}

/// The copy's problem, for a copy that must be refused.
fn refused(path: &Path, master: &MasterKey) -> CopyProblem {
    match read(path, master) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(ServingError::Copy { path: p, problem }) => {
            assert_eq!(p, path);
            problem
        }
        Err(other) => panic!("not a copy error: {other}"),
    }
}

/// What a snapshot serves, comparable.
fn served_view(s: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = s
        .by_domain
        .iter()
        .map(|(id, reg)| {
            let host = s.host(&reg.host).filter(|h| h.domain_id == *id);
            format!(
                "{id} {} {:?} body={:?} key={} labels={:?}",
                reg.host,
                reg.state,
                host.map(|h| h.body.clone()),
                host.map(|h| h.key().is_some()).unwrap_or(false),
                s.label(&reg.label),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn round_trip_serves_the_same() {
    let master = master();
    let original_rows = rows(&master);
    let expected = original_rows.domains.clone();
    let original = build(original_rows, &master, &provider());
    assert_eq!(original.host_count(), 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.copy");
    write(&path, &original, &master, 1_800_000_000).unwrap();

    let loaded = read(&path, &master).unwrap();
    assert_eq!(loaded.written_at, 1_800_000_000);
    assert_eq!(loaded.rows.seq, 42);
    // The rows come back as the store held them, keys sealed under the master key again.
    let mut domains = loaded.rows.domains.clone();
    domains.sort_by(|a, b| a.domain_id.as_str().cmp(b.domain_id.as_str()));
    for (got, want) in domains.iter().zip(&expected) {
        assert_eq!(got.name, want.name);
        assert_eq!(got.label, want.label);
        assert_eq!(got.state, want.state);
        assert_eq!(got.policy_body, want.policy_body);
        assert_eq!(got.live_ids, want.live_ids);
        assert_eq!(got.extra_rua, want.extra_rua);
        match (&got.certificate, &want.certificate) {
            (Some(g), Some(w)) => {
                assert_eq!(
                    (&g.id, g.not_before, g.not_after, g.created_at),
                    (&w.id, w.not_before, w.not_after, w.created_at)
                );
                assert_eq!(g.key_id, master.id());
                assert_ne!(
                    g.key_ciphertext, w.key_ciphertext,
                    "sealed again, fresh nonce"
                );
                assert_eq!(
                    master.open(&g.key_ciphertext).unwrap(),
                    master.open(&w.key_ciphertext).unwrap()
                );
                let der = |pem: &str| {
                    CertificateDer::pem_slice_iter(pem.as_bytes())
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap()
                };
                assert_eq!(der(&g.chain_pem), der(&w.chain_pem));
            }
            (None, None) => {}
            other => panic!("certificate differs for {}: {other:?}", got.domain_id),
        }
    }
    assert_eq!(domains.len(), expected.len());

    let rebuilt = build(loaded.rows, &master, &provider());
    assert_eq!(rebuilt.seq(), 42);
    assert_eq!(served_view(&rebuilt), served_view(&original));
    assert_eq!(rebuilt.challenge("tok-1").unwrap().as_ref(), b"tok-1.thumb");
    assert!(
        rebuilt
            .tls_alpn_challenge("mta-sts.gamma.example")
            .is_some()
    );
    assert!(rebuilt.service_host("reports.sts.test.example").is_some());
    // The copy of the rebuilt snapshot can be written again.
    write(&path, &rebuilt, &master, 1_800_000_001).unwrap();
    assert_eq!(read(&path, &master).unwrap().written_at, 1_800_000_001);
}

#[test]
fn written_atomically_with_mode_0600_and_no_clear_key() {
    let master = master();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.copy");
    std::fs::write(&path, "an old copy").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = snapshot(&master);
    write(&path, &s, &master, 1).unwrap();
    // Replaced whole, by a new file of mode 0600; no temporary file left behind.
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("snapshot.copy")]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("stsd-snapshot-copy 1\n"));
    assert_eq!(text.lines().count(), 3);
    // No private key in the clear: neither PEM nor the DER of any served key.
    assert!(!text.contains("PRIVATE KEY"));
    for (_, host) in s.hosts.iter() {
        let der = BASE64.encode(host.secret_key_der());
        assert!(!text.contains(&der));
        // The PKCS#8 header every P-256 key starts with.
        assert!(!text.contains(&der[..40]));
    }
    // A path that names no file.
    assert!(matches!(
        write(Path::new(""), &s, &master, 1),
        Err(ServingError::Copy {
            problem: CopyProblem::NotAFile,
            ..
        })
    ));
}

#[test]
fn corrupt_copies_are_refused() {
    let master = master();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.copy");
    write(&path, &snapshot(&master), &master, 1).unwrap();
    let good = std::fs::read(&path).unwrap();
    let header = good.iter().position(|&b| b == b'\n').unwrap();

    // A flipped byte anywhere in the content.
    for i in [header + 2, header + 100, good.len() / 2, good.len() - 80] {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let problem = refused(&path, &master);
        assert!(
            matches!(problem, CopyProblem::Corrupt(_) | CopyProblem::Truncated(_)),
            "byte {i}: {problem}"
        );
    }
    let mut bad = good.clone();
    bad[header + 10] ^= 0x01;
    std::fs::write(&path, &bad).unwrap();
    let err = read(&path, &master).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("does not match its SHA-256 checksum"), "{err}");

    // Not a copy at all, or another version.
    std::fs::write(&path, b"{}\n").unwrap();
    assert!(matches!(refused(&path, &master), CopyProblem::NotACopy));
    let mut v2 = good.clone();
    v2[header - 1] = b'2';
    std::fs::write(&path, &v2).unwrap();
    assert!(
        matches!(refused(&path, &master), CopyProblem::Version { ref found, .. } if found == "2")
    );

    // Valid JSON under a good checksum but rows the store's types refuse.
    let text = String::from_utf8(good.clone()).unwrap();
    let body = text
        .lines()
        .nth(1)
        .unwrap()
        .replace("alpha.example", "-bad-.example");
    let mut forged = format!("stsd-snapshot-copy 1\n{body}\n");
    let digest = hex(digest::digest(&digest::SHA256, forged.as_bytes()).as_ref());
    forged.push_str(&format!("sha256 {digest} {}\n", forged.len()));
    std::fs::write(&path, forged).unwrap();
    let problem = refused(&path, &master);
    assert!(
        matches!(problem, CopyProblem::Corrupt(ref m) if m.contains("name of d1")),
        "{problem}"
    );
}

#[test]
fn truncated_copies_are_refused() {
    let master = master();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.copy");
    write(&path, &snapshot(&master), &master, 1).unwrap();
    let good = std::fs::read(&path).unwrap();
    let header = good.iter().position(|&b| b == b'\n').unwrap();
    for len in (0..good.len()).rev() {
        std::fs::write(&path, &good[..len]).unwrap();
        let problem = refused(&path, &master);
        if len > header {
            assert!(
                matches!(problem, CopyProblem::Truncated(_)),
                "{len} bytes: {problem}"
            );
        } else {
            assert!(
                matches!(problem, CopyProblem::NotACopy),
                "{len} bytes: {problem}"
            );
        }
    }
    std::fs::write(&path, &good[..good.len() - 1]).unwrap();
    let err = read(&path, &master).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn a_wrong_master_key_is_refused() {
    let master = master();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.copy");
    write(&path, &snapshot(&master), &master, 1).unwrap();
    let other = MasterKey::from_bytes([10; 32]);
    let problem = refused(&path, &other);
    assert!(
        matches!(&problem, CopyProblem::WrongMasterKey { copy, configured } if copy == master.id() && configured == other.id()),
        "{problem}"
    );
    assert!(problem.to_string().contains(master.id()));
    // After a rotation the previous key still opens it.
    let rotated = MasterKey::from_bytes([10; 32]).with_previous([MasterKey::from_bytes([9; 32])]);
    let loaded = read(&path, &rotated).unwrap();
    assert_eq!(build(loaded.rows, &rotated, &provider()).host_count(), 2);
}

#[test]
fn unwritable_places_are_errors() {
    let master = master();
    let s = snapshot(&master);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/snapshot.copy");
    let err = write(&missing, &s, &master, 1).unwrap_err();
    assert!(
        matches!(
            err,
            ServingError::Copy {
                problem: CopyProblem::Io(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no/such/dir"), "{err}");
    let problem = refused(&missing, &master);
    assert!(matches!(problem, CopyProblem::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound));
    // A "directory" that is a file.
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let err = write(&file.join("snapshot.copy"), &s, &master, 1).unwrap_err();
    assert!(
        matches!(
            err,
            ServingError::Copy {
                problem: CopyProblem::Io(_),
                ..
            }
        ),
        "{err}"
    );
    // A read-only directory (root writes anyway, so only checked for other users).
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        let err = write(&ro.join("snapshot.copy"), &s, &master, 1).unwrap_err();
        assert!(
            matches!(
                err,
                ServingError::Copy {
                    problem: CopyProblem::Io(_),
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn pem_lines_are_64_characters() {
    let der = CertificateDer::from(vec![7u8; 100]);
    let pem = pem_chain(&[der.clone(), der]);
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----\n").count(), 2);
    assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
    let back: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0].as_ref(), &[7u8; 100][..]);
}
