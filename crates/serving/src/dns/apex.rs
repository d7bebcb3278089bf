//! The zone apex as the operator configures it: the name servers the NS RRset lists (with
//! their addresses when they are inside the zone, the glue a parent needs) and the SOA's
//! fields (RFC 1035 §3.3.13).
//!
//! A delegation checker such as Zonemaster wants at least two name servers and SOA timers of
//! hours and weeks, not minutes; the defaults here are what such a checker accepts, while a
//! laptop's zone keeps a single `ns1` on the edge addresses.

use std::net::IpAddr;

use stsd_core::DomainName;

/// Relative names the zone uses itself: a name server may not take them.
const RESERVED: [&str; 4] = ["reports", "edge", "policy", "report"];
/// Most name servers one NS RRset lists: the apex's NS answer must fit a plain 512-octet UDP
/// answer with room to spare (RFC 1035 §4.2.1), and no delegation has more than a handful.
const MAX_NAMESERVERS: usize = 8;

/// A configuration of the apex that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApexError {
    /// An entry is not `name` or `name@address`.
    #[error("`{entry}`: {reason}")]
    Nameserver {
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No name server is left.
    #[error("needs at least one name server")]
    NoNameserver,
    /// More than [`MAX_NAMESERVERS`] names.
    #[error("at most {MAX_NAMESERVERS} name servers")]
    TooMany,
    /// The mailbox is not `local@domain`.
    #[error("`{0}` is not a mailbox (local@domain)")]
    Mailbox(String),
    /// A timer is outside what the SOA may say.
    #[error("{0}")]
    Timers(String),
}

/// A name on the wire, written either under the zone apex (its own labels, then a pointer to
/// the apex) or in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireName {
    /// Length-prefixed labels: the part above the apex, or the whole name.
    pub(crate) labels: Vec<u8>,
    /// Whether the apex follows `labels` (else the root does).
    pub(crate) under_apex: bool,
}

impl WireName {
    fn of(labels: &[&[u8]], zone: &str) -> WireName {
        let zone_labels: Vec<&[u8]> = if zone.is_empty() {
            Vec::new()
        } else {
            zone.split('.').map(str::as_bytes).collect()
        };
        let under_apex = labels.len() > zone_labels.len()
            && labels[labels.len() - zone_labels.len()..]
                .iter()
                .zip(&zone_labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b));
        let keep = if under_apex {
            &labels[..labels.len() - zone_labels.len()]
        } else {
            labels
        };
        let mut wire = Vec::new();
        for label in keep {
            // Labels are checked to fit 63 octets before they get here.
            wire.push(u8::try_from(label.len()).unwrap_or(63));
            wire.extend_from_slice(label);
        }
        WireName {
            labels: wire,
            under_apex,
        }
    }

    fn of_name(name: &DomainName, zone: &str) -> WireName {
        let labels: Vec<&[u8]> = name.as_str().split('.').map(str::as_bytes).collect();
        WireName::of(&labels, zone)
    }
}

/// One name server of the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    name: DomainName,
    /// Its label under the apex, when it is inside the zone.
    relative: Option<String>,
    addresses: Vec<IpAddr>,
    pub(crate) wire: WireName,
}

impl Nameserver {
    /// Its name.
    pub fn name(&self) -> &DomainName {
        &self.name
    }

    /// Its addresses, which the zone answers (only for names inside the zone).
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }

    /// Its label under the apex, when it is inside the zone.
    pub fn relative(&self) -> Option<&str> {
        self.relative.as_deref()
    }
}

/// The apex's NS RRset, in the order configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameservers(Vec<Nameserver>);

impl Nameservers {
    /// The default for `zone`: `ns1.<zone>` on `addresses` (the edge's).
    pub fn single(zone: &DomainName, addresses: Vec<IpAddr>) -> Nameservers {
        let zone_text = zone.as_str();
        let name = format!("ns1.{zone_text}");
        // `ns1.` and a valid zone make a valid name; the zone itself is the fallback only
        // if the zone is already at the 253-character limit.
        let name = DomainName::parse_host(&name).unwrap_or_else(|_| zone.clone());
        let wire = WireName::of_name(&name, zone_text);
        Nameservers(vec![Nameserver {
            relative: Some("ns1".to_owned()),
            name,
            addresses,
            wire,
        }])
    }

    /// Reads entries `name@address` (a name inside the zone, once per address) and `name` (a
    /// name server outside the zone, whose addresses its own zone gives).
    pub fn parse(zone: &DomainName, entries: &[String]) -> Result<Nameservers, ApexError> {
        let zone_text = zone.as_str();
        let mut servers: Vec<Nameserver> = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            let bad = |reason: &str| ApexError::Nameserver {
                entry: entry.to_owned(),
                reason: reason.to_owned(),
            };
            let (name, address) = match entry.split_once('@') {
                Some((name, address)) => {
                    let address = address
                        .trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .map_err(|_| bad("what follows `@` is not an IP address"))?;
                    (name.trim(), Some(address))
                }
                None => (entry, None),
            };
            let name = DomainName::parse_host(name).map_err(|e| bad(&e.to_string()))?;
            let relative = if name.as_str() == zone_text {
                return Err(bad(
                    "the zone apex cannot be its own name server here; use a name below it",
                ));
            } else {
                name.as_str()
                    .strip_suffix(zone_text)
                    .and_then(|p| p.strip_suffix('.'))
                    .map(str::to_owned)
            };
            if let Some(relative) = &relative {
                if relative.contains('.') {
                    return Err(bad(
                        "a name server inside the zone must be one label below the apex (ns1.<zone>)",
                    ));
                }
                if RESERVED.contains(&relative.as_str()) || relative.starts_with('_') {
                    return Err(bad("this name is one the zone uses itself"));
                }
                if address.is_none() {
                    return Err(bad(
                        "inside the zone, so its address is needed (name@address): the zone answers it as glue",
                    ));
                }
            } else if address.is_some() {
                return Err(bad(
                    "outside the zone: give its name only, its own zone answers its addresses",
                ));
            }
            match servers.iter_mut().find(|s| s.name == name) {
                Some(server) => {
                    if let Some(a) = address
                        && !server.addresses.contains(&a)
                    {
                        server.addresses.push(a);
                    }
                }
                None => {
                    let wire = WireName::of_name(&name, zone_text);
                    servers.push(Nameserver {
                        name,
                        relative,
                        addresses: address.into_iter().collect(),
                        wire,
                    });
                }
            }
        }
        if servers.is_empty() {
            return Err(ApexError::NoNameserver);
        }
        if servers.len() > MAX_NAMESERVERS {
            return Err(ApexError::TooMany);
        }
        Ok(Nameservers(servers))
    }

    /// The name servers, in the order configured.
    pub fn iter(&self) -> impl Iterator<Item = &Nameserver> {
        self.0.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: [`Nameservers::parse`] refuses an empty set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `index`th name server.
    pub(crate) fn get(&self, index: usize) -> Option<&Nameserver> {
        self.0.get(index)
    }

    /// The name server inside the zone whose label is `relative`.
    pub(crate) fn by_relative(&self, relative: &str) -> Option<&Nameserver> {
        self.0
            .iter()
            .find(|s| s.relative.as_deref() == Some(relative))
    }
}

/// The SOA's fields besides the serial (RFC 1035 §3.3.13, RFC 2308 §4 for the minimum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    /// MNAME: the primary. Default: the first name server.
    pub(crate) mname: WireName,
    mname_text: String,
    /// RNAME: the mailbox of whoever runs the zone.
    pub(crate) rname: WireName,
    mailbox: String,
    /// Seconds between a secondary's checks of the serial.
    pub refresh: u32,
    /// Seconds before a secondary retries a failed check.
    pub retry: u32,
    /// Seconds after which a secondary that cannot reach the primary stops answering.
    pub expire: u32,
    /// The TTL of negative answers (RFC 2308).
    pub minimum: u32,
}

/// What [`Soa::new`] reads: each field, `None` for its default.
#[derive(Debug, Clone, Default)]
pub struct SoaSettings {
    /// MNAME.
    pub mname: Option<String>,
    /// The responsible person's mailbox, `local@domain`.
    pub mailbox: Option<String>,
    /// Refresh, in seconds (default 4 hours).
    pub refresh: Option<u32>,
    /// Retry, in seconds (default 1 hour).
    pub retry: Option<u32>,
    /// Expire, in seconds (default 14 days).
    pub expire: Option<u32>,
    /// Negative-caching TTL, in seconds (default 5 minutes: a label just registered should
    /// not stay unknown to resolvers for long).
    pub minimum: Option<u32>,
}

impl Soa {
    /// Default refresh: what RIPE-203 and Zonemaster ask for at least.
    pub const REFRESH: u32 = 14_400;
    /// Default retry.
    pub const RETRY: u32 = 3_600;
    /// Default expire.
    pub const EXPIRE: u32 = 1_209_600;
    /// Default negative-caching TTL.
    pub const MINIMUM: u32 = 300;

    /// The default SOA of `zone`: MNAME the first name server, `hostmaster@<zone>`, the
    /// default timers.
    pub fn defaults(zone: &DomainName, nameservers: &Nameservers) -> Soa {
        let mname = nameservers.get(0).map_or_else(
            || (WireName::of(&[], zone.as_str()), zone.to_string()),
            |s| (s.wire.clone(), s.name.to_string()),
        );
        Soa {
            mname: mname.0,
            mname_text: mname.1,
            rname: WireName {
                labels: b"\x0ahostmaster".to_vec(),
                under_apex: true,
            },
            mailbox: format!("hostmaster@{zone}"),
            refresh: Soa::REFRESH,
            retry: Soa::RETRY,
            expire: Soa::EXPIRE,
            minimum: Soa::MINIMUM,
        }
    }

    /// The SOA of `zone` served by `nameservers`, from `settings`.
    pub fn new(
        zone: &DomainName,
        nameservers: &Nameservers,
        settings: &SoaSettings,
    ) -> Result<Soa, ApexError> {
        let zone_text = zone.as_str();
        let mname = match &settings.mname {
            Some(m) => DomainName::parse_host(m).map_err(|e| ApexError::Nameserver {
                entry: m.clone(),
                reason: e.to_string(),
            })?,
            None => nameservers
                .get(0)
                .map(|s| s.name.clone())
                .ok_or(ApexError::NoNameserver)?,
        };
        let mailbox = settings
            .mailbox
            .clone()
            .unwrap_or_else(|| format!("hostmaster@{zone_text}"));
        let rname = rname(&mailbox, zone_text)?;
        let refresh = settings.refresh.unwrap_or(Soa::REFRESH);
        let retry = settings.retry.unwrap_or(Soa::RETRY);
        let expire = settings.expire.unwrap_or(Soa::EXPIRE);
        let minimum = settings.minimum.unwrap_or(Soa::MINIMUM);
        if refresh < 60 || retry < 60 {
            return Err(ApexError::Timers(
                "refresh and retry must be at least 60 seconds".to_owned(),
            ));
        }
        if retry >= refresh {
            return Err(ApexError::Timers(
                "retry must be shorter than refresh".to_owned(),
            ));
        }
        if expire < refresh.saturating_add(retry) {
            return Err(ApexError::Timers(
                "expire must be longer than refresh plus retry".to_owned(),
            ));
        }
        if minimum > 86_400 {
            return Err(ApexError::Timers(
                "minimum (the negative-caching TTL) must be at most one day (RFC 2308 §5)"
                    .to_owned(),
            ));
        }
        Ok(Soa {
            mname: WireName::of_name(&mname, zone_text),
            mname_text: mname.to_string(),
            rname,
            mailbox,
            refresh,
            retry,
            expire,
            minimum,
        })
    }

    /// MNAME as text.
    pub fn mname(&self) -> &str {
        &self.mname_text
    }

    /// The mailbox RNAME stands for.
    pub fn mailbox(&self) -> &str {
        &self.mailbox
    }
}

/// RNAME for a mailbox: its local part as one label (dots and all), then its domain.
fn rname(mailbox: &str, zone: &str) -> Result<WireName, ApexError> {
    let bad = || ApexError::Mailbox(mailbox.to_owned());
    let (local, domain) = mailbox.trim().rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 63
        || !local
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'@' && b != b'\\')
    {
        return Err(bad());
    }
    let domain = DomainName::parse_host(domain).map_err(|_| bad())?;
    let mut labels: Vec<&[u8]> = vec![local.as_bytes()];
    labels.extend(domain.as_str().split('.').map(str::as_bytes));
    Ok(WireName::of(&labels, zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> DomainName {
        DomainName::parse_host("sts.example.net").unwrap()
    }

    fn entries(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn names_inside_get_glue_and_names_outside_do_not() {
        let ns = Nameservers::parse(
            &zone(),
            &entries(&[
                "ns1.sts.example.net@192.0.2.1",
                "ns1.sts.example.net@2001:db8::1",
                "ns2.sts.example.net@192.0.2.2",
                "ns.provider.example.",
            ]),
        )
        .unwrap();
        let listed: Vec<_> = ns
            .iter()
            .map(|s| (s.name().to_string(), s.addresses().len(), s.relative()))
            .collect();
        assert_eq!(
            listed,
            [
                ("ns1.sts.example.net".to_owned(), 2, Some("ns1")),
                ("ns2.sts.example.net".to_owned(), 1, Some("ns2")),
                ("ns.provider.example".to_owned(), 0, None),
            ]
        );
        assert!(ns.by_relative("ns2").is_some());
        assert!(ns.by_relative("ns3").is_none());
        let outside = ns.iter().nth(2).unwrap();
        assert!(!outside.wire.under_apex);
        assert_eq!(outside.wire.labels, b"\x02ns\x08provider\x07example");
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (entry, says) in [
            ("ns1.sts.example.net", "address is needed"),
            ("ns.provider.example@192.0.2.9", "outside the zone"),
            ("ns1.sts.example.net@not-an-ip", "not an IP address"),
            ("a.b.sts.example.net@192.0.2.1", "one label below"),
            ("reports.sts.example.net@192.0.2.1", "uses itself"),
            ("sts.example.net@192.0.2.1", "apex"),
            ("bad..name@192.0.2.1", ""),
        ] {
            let e = Nameservers::parse(&zone(), &entries(&[entry])).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(entry.trim()), "{text}");
            assert!(text.contains(says), "{entry}: {text}");
        }
        assert_eq!(
            Nameservers::parse(&zone(), &[]).unwrap_err(),
            ApexError::NoNameserver
        );
        let many: Vec<String> = (0..9)
            .map(|i| format!("ns{i}.sts.example.net@192.0.2.{i}"))
            .collect();
        assert_eq!(
            Nameservers::parse(&zone(), &many).unwrap_err(),
            ApexError::TooMany
        );
    }

    #[test]
    fn soa_defaults_pass_a_zone_checker_and_bad_timers_are_refused() {
        let ns = Nameservers::single(&zone(), vec!["192.0.2.1".parse().unwrap()]);
        let soa = Soa::new(&zone(), &ns, &SoaSettings::default()).unwrap();
        assert_eq!(soa.mname(), "ns1.sts.example.net");
        assert_eq!(soa.mailbox(), "hostmaster@sts.example.net");
        assert!(soa.rname.under_apex);
        assert_eq!(soa.rname.labels, b"\x0ahostmaster");
        assert!(soa.refresh >= 14_400 && soa.retry >= 3_600 && soa.expire >= 604_800);
        assert!((300..=86_400).contains(&soa.minimum));

        let dotted = SoaSettings {
            mailbox: Some("dns.admin@operator.example".to_owned()),
            ..SoaSettings::default()
        };
        let soa = Soa::new(&zone(), &ns, &dotted).unwrap();
        assert!(!soa.rname.under_apex);
        assert_eq!(soa.rname.labels, b"\x09dns.admin\x08operator\x07example");

        for settings in [
            SoaSettings {
                retry: Some(20_000),
                ..SoaSettings::default()
            },
            SoaSettings {
                expire: Some(100),
                ..SoaSettings::default()
            },
            SoaSettings {
                minimum: Some(100_000),
                ..SoaSettings::default()
            },
            SoaSettings {
                mailbox: Some("nobody".to_owned()),
                ..SoaSettings::default()
            },
        ] {
            assert!(Soa::new(&zone(), &ns, &settings).is_err(), "{settings:?}");
        }
    }
}
