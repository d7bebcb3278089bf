//! `[dns]`: the listener, response rate limiting, and the zone apex an operator delegates to
//! stsd (its name servers, SOA fields, secondaries and their TSIG keys).

use std::net::{IpAddr, SocketAddr};

use stsd_core::DomainName;
use stsd_serving::dns::{Nameservers, RrlConfig, Secondary, Soa, SoaSettings, TsigKey, ZoneConfig};

use super::source::{Key, Source, key};
use super::{ConfigError, invalid};

/// `[dns]`.
#[derive(Debug, Clone)]
pub(crate) struct Dns {
    /// `STSD_DNS_LISTEN` (UDP and TCP).
    pub(crate) listen: SocketAddr,
    /// `STSD_DNS_RRL_ENABLED`, `STSD_DNS_RRL_RATE`, `STSD_DNS_RRL_SLIP`: response rate
    /// limiting of UDP answers.
    pub(crate) rrl: RrlConfig,
    /// The zone as served: `STSD_DNS_NAMESERVERS`, `STSD_DNS_SOA_*`, `STSD_DNS_SECONDARIES`,
    /// `STSD_DNS_TSIG_KEYS`, on the service zone and the edge addresses.
    pub(crate) zone: ZoneConfig,
}

impl Dns {
    /// Reads `[dns]` for `zone`, whose edge names resolve to `edge_addresses`.
    pub(crate) fn read(
        src: &Source<'_>,
        zone: &DomainName,
        edge_addresses: &[IpAddr],
    ) -> Result<Dns, ConfigError> {
        let listen = src.socket(key("dns", "listen"), ([127, 0, 0, 1], 5353).into())?;
        let defaults = RrlConfig::default();
        let rrl = RrlConfig {
            enabled: src.flag(key("dns", "rrl_enabled"), defaults.enabled)?,
            rate: src.number(key("dns", "rrl_rate"), 1..=1_000_000u32, defaults.rate)?,
            slip: src.number(key("dns", "rrl_slip"), 0..=10u32, defaults.slip)?,
            ..defaults
        };

        let k = key("dns", "nameservers");
        let nameservers = match src.list(k)? {
            Some((entries, at)) => {
                Nameservers::parse(zone, &entries).map_err(|e| invalid(&at, e.to_string()))?
            }
            None => Nameservers::single(zone, edge_addresses.to_vec()),
        };
        src.show(
            k,
            nameservers
                .iter()
                .flat_map(|ns| {
                    let name = ns.name().to_string();
                    match ns.addresses() {
                        [] => vec![name],
                        addresses => addresses.iter().map(|a| format!("{name}@{a}")).collect(),
                    }
                })
                .collect::<Vec<_>>(),
        );

        let soa_at = |name: &'static str| -> Result<Option<(String, String)>, ConfigError> {
            src.text(key("dns", name))
        };
        let seconds = |name: &'static str| -> Result<Option<u32>, ConfigError> {
            match soa_at(name)? {
                Some((v, at)) => v
                    .parse::<u32>()
                    .map(Some)
                    .map_err(|_| invalid(&at, format!("`{v}` is not a number of seconds"))),
                None => Ok(None),
            }
        };
        let settings = SoaSettings {
            mname: soa_at("soa_mname")?.map(|(v, _)| v),
            mailbox: soa_at("soa_mailbox")?.map(|(v, _)| v),
            refresh: seconds("soa_refresh")?,
            retry: seconds("soa_retry")?,
            expire: seconds("soa_expire")?,
            minimum: seconds("soa_minimum")?,
        };
        // The SOA's fields are checked together (retry below refresh …): a problem names the
        // section's SOA keys.
        let soa = Soa::new(zone, &nameservers, &settings).map_err(|e| {
            invalid(
                &format!("{} (the SOA's fields)", key("dns", "soa_*").env()),
                e.to_string(),
            )
        })?;
        src.show(key("dns", "soa_mname"), soa.mname());
        src.show(key("dns", "soa_mailbox"), soa.mailbox());
        for (name, value) in [
            ("soa_refresh", soa.refresh),
            ("soa_retry", soa.retry),
            ("soa_expire", soa.expire),
            ("soa_minimum", soa.minimum),
        ] {
            src.show(key("dns", name), i64::from(value));
        }

        let k = key("dns", "tsig_keys");
        let keys = match src.list(k)? {
            Some((specs, at)) => specs
                .iter()
                .map(|s| TsigKey::parse(s).map_err(|e| invalid(&at, e.to_string())))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        src.show(
            k,
            if keys.is_empty() {
                "(none)".to_owned()
            } else {
                let names: Vec<&str> = keys.iter().map(TsigKey::name).collect();
                format!("*** ({})", names.join(", "))
            },
        );

        let k = key("dns", "secondaries");
        let secondaries = match src.list(k)? {
            Some((entries, at)) => entries
                .iter()
                .map(|e| secondary(e).map_err(|problem| invalid(&at, problem)))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        src.show(
            k,
            secondaries
                .iter()
                .map(|s| format!("{}@{}", s.key, s.address))
                .collect::<Vec<_>>(),
        );
        let zone = ZoneConfig::new(zone.clone(), edge_addresses.to_vec())
            .with_nameservers(nameservers, soa)
            .with_secondaries(secondaries, keys)
            .map_err(|e| invalid(&key_env(k), e.to_string()))?;
        Ok(Dns { listen, rrl, zone })
    }
}

fn key_env(k: Key) -> String {
    k.env()
}

/// Reads `<key name>@<address>[:port]` (port 53 by default): the key a secondary signs
/// with, and where it is.
fn secondary(entry: &str) -> Result<Secondary, String> {
    let entry = entry.trim();
    let Some((key, address)) = entry.split_once('@') else {
        return Err(format!(
            "`{entry}` is not `<key name>@<address>` (e.g. xfr-key@192.0.2.53 or xfr-key@[2001:db8::53]:5300)"
        ));
    };
    let address = address.trim();
    let address = address
        .parse::<SocketAddr>()
        .or_else(|_| {
            address
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("`{address}` in `{entry}` is not an IP address"))?;
    Ok(Secondary {
        address,
        key: key.trim().trim_end_matches('.').to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::Config;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let env: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::load(None, &env).map_err(|e| e.to_string())
    }

    const ZONE: (&str, &str) = ("STSD_SERVICE_ZONE", "sts.example.net");
    const KEY: &str = "hmac-sha256:xfr-key:c2VjcmV0LXNlY3JldC1zZWNyZXQ=";

    #[test]
    fn the_default_is_one_name_server_on_the_edge_addresses() {
        let c = load(&[ZONE, ("STSD_EDGE_ADDRESSES", "192.0.2.1")]).unwrap();
        let ns: Vec<_> = c.dns.zone.nameservers().iter().collect();
        assert_eq!(ns.len(), 1);
        assert_eq!(ns[0].name().as_str(), "ns1.sts.example.net");
        assert_eq!(
            ns[0].addresses(),
            ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(c.dns.zone.secondaries().is_empty());
    }

    #[test]
    fn name_servers_secondaries_and_keys_are_read() {
        let c = load(&[
            ZONE,
            (
                "STSD_DNS_NAMESERVERS",
                "ns1.sts.example.net@192.0.2.1,ns1.sts.example.net@2001:db8::1,ns2.sts.example.net@192.0.2.2,ns.provider.example",
            ),
            ("STSD_DNS_SOA_MAILBOX", "dns@operator.example"),
            ("STSD_DNS_SOA_REFRESH", "7200"),
            ("STSD_DNS_TSIG_KEYS", KEY),
            ("STSD_DNS_SECONDARIES", "xfr-key@192.0.2.53, xfr-key@[2001:db8::53]:5300"),
        ])
        .unwrap();
        let zone = &c.dns.zone;
        assert_eq!(zone.nameservers().len(), 3);
        assert_eq!(zone.soa_fields().mailbox(), "dns@operator.example");
        assert_eq!(zone.soa_fields().refresh, 7200);
        let secondaries: Vec<String> = zone
            .secondaries()
            .iter()
            .map(|s| format!("{}@{}", s.key, s.address))
            .collect();
        assert_eq!(
            secondaries,
            ["xfr-key@192.0.2.53:53", "xfr-key@[2001:db8::53]:5300"]
        );
        // The key's secret is never shown.
        let shown = c.to_masked_toml();
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("xfr-key"), "{shown}");
    }

    #[test]
    fn bad_entries_are_refused_with_the_key_named() {
        for (pairs, key, says) in [
            (
                vec![("STSD_DNS_NAMESERVERS", "ns1.sts.example.net")],
                "STSD_DNS_NAMESERVERS",
                "address is needed",
            ),
            (
                vec![("STSD_DNS_NAMESERVERS", "ns.provider.example@192.0.2.9")],
                "STSD_DNS_NAMESERVERS",
                "outside the zone",
            ),
            (
                vec![("STSD_DNS_SOA_RETRY", "20000")],
                "STSD_DNS_SOA_",
                "retry must be shorter than refresh",
            ),
            (
                vec![("STSD_DNS_SOA_EXPIRE", "soon")],
                "STSD_DNS_SOA_EXPIRE",
                "seconds",
            ),
            (
                vec![(
                    "STSD_DNS_TSIG_KEYS",
                    "hmac-md5:k:c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
                )],
                "STSD_DNS_TSIG_KEYS",
                "only hmac-sha256",
            ),
            (
                vec![("STSD_DNS_SECONDARIES", "192.0.2.53")],
                "STSD_DNS_SECONDARIES",
                "<key name>@<address>",
            ),
            (
                vec![("STSD_DNS_SECONDARIES", "nokey@192.0.2.53")],
                "STSD_DNS_SECONDARIES",
                "`nokey`, which is not configured",
            ),
        ] {
            let mut all = vec![ZONE];
            all.extend(pairs.iter().copied());
            let e = load(&all).unwrap_err();
            assert!(e.contains(key), "{pairs:?}: {e}");
            assert!(e.contains(says), "{pairs:?}: {e}");
        }
    }
}
