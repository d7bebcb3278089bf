//! `stsd-bench-seed`: fills a SQLite store with `N` active domains `d{i}.bench.example`, each
//! with a live policy and an ECDSA P-256 certificate for `mta-sts.d{i}.bench.example` from a
//! generated test CA, and writes what the comparison servers need:
//!
//! - `ca.pem`, `names.txt` (the SNI names, one per line);
//! - with `--nginx-listen`: `nginx/certs/d{i}.{crt,key}` (the same chain and key stsd
//!   serves) and `nginx/servers.conf`, one `server` block per host returning the same policy
//!   bytes;
//! - with `--dns-zone`: `knot/<zone>.zone` with the same `<label>.policy.<zone>` TXT records
//!   stsd answers, and `queries.txt` for dnsperf.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool that reports what it did"
)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_serving::dns::ZoneConfig;
use stsd_store::{DomainState, MasterKey, NewCertificate, Ownership, Store, TenantId};
use time::OffsetDateTime;

/// Seeds a benchmark store.
#[derive(Debug, Parser)]
struct Args {
    /// SQLite file to create (replaced if it exists, unless `--tenant` is given).
    #[arg(long)]
    db: PathBuf,
    /// Add the domains to this existing tenant of an existing store (`bench/dashboard.sh`: a
    /// tenant made by signing up through the API) instead of a new store and tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Directory for the CA, names, nginx and Knot files.
    #[arg(long)]
    out: PathBuf,
    /// Number of active domains.
    #[arg(long, default_value_t = 1000)]
    domains: usize,
    /// Concurrent seeding tasks (certificate generation overlaps the SQLite writes).
    #[arg(long, default_value_t = 4)]
    tasks: usize,
    /// Write nginx certificates and server blocks listening on this address.
    #[arg(long)]
    nginx_listen: Option<String>,
    /// Write a Knot zone file and a dnsperf query file for this service zone.
    #[arg(long)]
    dns_zone: Option<String>,
    /// The master key stsd-bench-serve must be given (64 hex digits).
    #[arg(long, default_value = MASTER_KEY_HEX)]
    master_key: String,
}

/// The default master key of the benchmark (not a secret: test data only).
const MASTER_KEY_HEX: &str = "0909090909090909090909090909090909090909090909090909090909090909";

/// Parses 64 hex digits into a master key.
fn master_key(hex: &str) -> anyhow::Result<MasterKey> {
    if hex.len() != 64 || !hex.is_ascii() {
        bail!("the master key must be 64 hex digits");
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).context("master key")?;
        *b = u8::from_str_radix(pair, 16).context("master key is not hex")?;
    }
    Ok(MasterKey::from_bytes(bytes))
}

struct Seeder {
    store: Store,
    master: MasterKey,
    ca: CertifiedIssuer<'static, KeyPair>,
    tenant: TenantId,
    nginx_certs: Option<PathBuf>,
}

impl Seeder {
    /// Registers `d{i}.bench.example`, publishes its policy, stores its certificate and makes
    /// it active, exactly as the serving tests do.
    async fn activate(&self, i: usize) -> anyhow::Result<()> {
        let name = format!("d{i}.bench.example");
        let s = &self.store;
        let domain = DomainName::from_str(&name).with_context(|| format!("name {name}"))?;
        let d = s
            .create_domain(&self.tenant, &domain, Ownership::Cname)
            .await?;
        let policy = Policy::new(
            Mode::Enforce,
            vec![MxPattern::from_str(&format!("mx.{name}"))?],
            MaxAge::new(86_400)?,
        )?;
        let v = s
            .create_policy_version(&self.tenant, &d.id, &policy, "bench")
            .await?
            .version;
        s.all_tenants().set_live_version(&d.id, &v.id).await?;
        s.all_tenants().set_dns_version(&d.id, &v.id).await?;

        let host = format!("mta-sts.{name}");
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec![host])?.signed_by(&key, &self.ca)?;
        let chain_pem = format!("{}{}", cert.pem(), self.ca.pem());
        if let Some(dir) = &self.nginx_certs {
            write(&dir.join(format!("d{i}.crt")), &chain_pem)?;
            write(&dir.join(format!("d{i}.key")), &key.serialize_pem())?;
        }
        let now = OffsetDateTime::now_utc();
        s.all_tenants()
            .put_certificate(&NewCertificate {
                domain_id: d.id.clone(),
                chain_pem,
                key_ciphertext: self.master.seal(&key.serialize_der())?,
                key_id: self.master.id().to_owned(),
                not_before: now - time::Duration::hours(1),
                not_after: now + time::Duration::days(90),
            })
            .await?;
        s.all_tenants()
            .transition_domain(&d.id, DomainState::Pending, DomainState::Verified, "bench")
            .await?;
        s.all_tenants()
            .transition_domain(&d.id, DomainState::Verified, DomainState::Active, "bench")
            .await?;
        Ok(())
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A string as an nginx double-quoted token (nginx turns `\r`, `\n`, `\t` back into bytes).
fn nginx_quoted(text: &str) -> anyhow::Result<String> {
    let mut q = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\r' => q.push_str("\\r"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            // `return` text is a complex value: a `$` would start a variable.
            '$' => bail!("policy text contains `$`, which nginx would interpolate"),
            c => q.push(c),
        }
    }
    q.push('"');
    Ok(q)
}

fn new_ca() -> anyhow::Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "stsd bench CA");
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let suffixes: &[&str] = if args.tenant.is_some() {
        &[]
    } else {
        &["", "-wal", "-shm"]
    };
    for suffix in suffixes {
        let mut p = args.db.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", args.db.display()));
            }
            _ => {}
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let nginx_certs = match &args.nginx_listen {
        Some(_) => {
            let dir = args.out.join("nginx/certs");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Some(dir)
        }
        None => None,
    };

    let db = args
        .db
        .to_str()
        .context("the database path must be UTF-8")?;
    let store = Store::connect(&format!("sqlite://{db}")).await?;
    store.migrate().await?;
    let ca = new_ca()?;
    write(&args.out.join("ca.pem"), &ca.pem())?;
    let tenant = match &args.tenant {
        Some(id) => TenantId::from_raw(id.clone()),
        None => store.create_tenant("bench").await?.id,
    };
    let seeder = Arc::new(Seeder {
        store: store.clone(),
        master: master_key(&args.master_key)?,
        ca,
        tenant,
        nginx_certs,
    });

    let tasks = args.tasks.max(1);
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let seeder = seeder.clone();
        let n = args.domains;
        set.spawn(async move {
            let mut i = t;
            while i < n {
                seeder
                    .activate(i)
                    .await
                    .with_context(|| format!("domain d{i}"))?;
                if i > 0 && i % 10_000 == 0 {
                    eprintln!("seeded {i} domains");
                }
                i += tasks;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    let seeded = started.elapsed();

    // What stsd will serve, read back through the same query the snapshot uses.
    let served = store.all_tenants().served_domains().await?;
    if served.len() != args.domains {
        bail!(
            "expected {} served domains, found {}",
            args.domains,
            served.len()
        );
    }
    let by_name: HashMap<&str, _> = served.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut names = String::new();
    let mut servers = String::new();
    let mut zone = String::new();
    let mut queries = String::new();
    if let Some(z) = &args.dns_zone {
        writeln!(zone, "$ORIGIN {z}.\n$TTL 300")?;
        writeln!(zone, "@ IN SOA ns1 hostmaster 1 3600 600 1209600 300")?;
        writeln!(zone, "@ IN NS ns1\nns1 IN A 192.0.2.10")?;
    }
    for i in 0..args.domains {
        let name = format!("d{i}.bench.example");
        let row = by_name
            .get(name.as_str())
            .context("seeded domain missing")?;
        let host = format!("mta-sts.{name}");
        writeln!(names, "{host}")?;
        if let Some(listen) = &args.nginx_listen {
            let body = row.policy_body.as_deref().context("no live policy")?;
            let certs = args.out.join("nginx/certs");
            let certs = certs.canonicalize().unwrap_or(certs);
            writeln!(
                servers,
                "server {{\n    listen {listen} ssl;\n    server_name {host};\n    \
                 ssl_certificate {c}/d{i}.crt;\n    ssl_certificate_key {c}/d{i}.key;\n    \
                 location = /.well-known/mta-sts.txt {{\n        default_type text/plain;\n        \
                 add_header Cache-Control no-cache;\n        return 200 {b};\n    }}\n    \
                 location / {{ return 404; }}\n}}",
                c = certs.display(),
                b = nginx_quoted(body)?,
            )?;
        }
        if let Some(z) = &args.dns_zone {
            // The newest live version: what stsd announces once it has settled.
            let id = &row.live_ids.first().context("no live policy id")?.id;
            let label = row.label.as_str();
            // One character-string: the record is far below 255 bytes.
            writeln!(
                zone,
                "{label}.policy 300 IN TXT \"{}\"",
                ZoneConfig::sts_txt(id)
            )?;
            writeln!(queries, "{label}.policy.{z} TXT")?;
        }
    }
    write(&args.out.join("names.txt"), &names)?;
    if args.nginx_listen.is_some() {
        write(&args.out.join("nginx/servers.conf"), &servers)?;
    }
    if let Some(z) = &args.dns_zone {
        let dir = args.out.join("knot");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write(&dir.join(format!("{z}.zone")), &zone)?;
        write(&args.out.join("queries.txt"), &queries)?;
    }
    store.close().await;
    println!(
        "seeded {} active domains into {} in {:.1} s (files in {})",
        args.domains,
        args.db.display(),
        seeded.as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
