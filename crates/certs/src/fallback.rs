//! Several CAs in order (Caddy's issuer fallback): a registration whose orders keep failing at
//! one CA gets its next orders from the next, round the list. Renewal information is asked of
//! each CA in turn, since only the one that issued a certificate knows it.

use std::sync::Arc;

use async_trait::async_trait;
use stsd_store::{Domain, DomainId};

use crate::error::CertsError;
use crate::issuer::{Issued, Issuer, RenewalInfo};

/// Issuers tried in order: each gets `after` attempts at a registration's job before the next
/// one's turn.
pub struct FallbackIssuer {
    issuers: Vec<Arc<dyn Issuer>>,
    after: u32,
    name: String,
}

impl FallbackIssuer {
    /// `issuers` in order of preference (at least one); `after` failed attempts (at least 1)
    /// at one hand the registration to the next.
    pub fn new(issuers: Vec<Arc<dyn Issuer>>, after: u32) -> FallbackIssuer {
        let name = issuers
            .iter()
            .map(|i| i.name())
            .collect::<Vec<_>>()
            .join(", then ");
        FallbackIssuer {
            issuers,
            after: after.max(1),
            name,
        }
    }

    /// The issuer whose turn `attempt` (1 for a job's first) is.
    pub fn pick(&self, attempt: i64) -> Option<&Arc<dyn Issuer>> {
        let n = i64::try_from(self.issuers.len()).ok().filter(|n| *n > 0)?;
        let turn = (attempt.max(1) - 1) / i64::from(self.after);
        let index = usize::try_from(turn.rem_euclid(n)).ok()?;
        self.issuers.get(index)
    }

    fn first(&self) -> Result<&Arc<dyn Issuer>, CertsError> {
        self.issuers
            .first()
            .ok_or_else(|| CertsError::Config("no certificate issuer configured".into()))
    }
}

#[async_trait]
impl Issuer for FallbackIssuer {
    fn name(&self) -> &str {
        &self.name
    }

    fn for_attempt(&self, attempt: i64) -> Option<&dyn Issuer> {
        self.pick(attempt).map(|i| i.as_ref() as &dyn Issuer)
    }

    async fn issue_host(&self, host: &str, owner: Option<&DomainId>) -> Result<Issued, CertsError> {
        self.first()?.issue_host(host, owner).await
    }

    async fn issue(&self, domain: &Domain) -> Result<Issued, CertsError> {
        self.first()?.issue(domain).await
    }

    async fn renew(&self, domain: &Domain, replacing_pem: &str) -> Result<Issued, CertsError> {
        self.first()?.renew(domain, replacing_pem).await
    }

    async fn renewal_info(&self, chain_pem: &str) -> Result<Option<RenewalInfo>, CertsError> {
        let (mut answered, mut error) = (false, None);
        for issuer in &self.issuers {
            match issuer.renewal_info(chain_pem).await {
                Ok(Some(info)) => return Ok(Some(info)),
                Ok(None) => answered = true,
                Err(e) => error = Some(e),
            }
        }
        // A CA without ARI answered: the two-thirds rule. Only when no CA answered at all is
        // it an error (a CA that did not issue the certificate may refuse to talk about it).
        match error {
            Some(e) if !answered => Err(e),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    #[async_trait]
    impl Issuer for Named {
        fn name(&self) -> &str {
            self.0
        }

        async fn issue_host(&self, _: &str, _: Option<&DomainId>) -> Result<Issued, CertsError> {
            Err(CertsError::Config(self.0.into()))
        }
    }

    #[test]
    fn each_ca_gets_its_attempts_in_turn() {
        let chain =
            FallbackIssuer::new(vec![Arc::new(Named("first")), Arc::new(Named("second"))], 2);
        assert_eq!(chain.name(), "first, then second");
        let turns: Vec<&str> = (0..=6).map(|a| chain.pick(a).unwrap().name()).collect();
        assert_eq!(
            turns,
            [
                "first", "first", "first", "second", "second", "first", "first"
            ]
        );
        let one = FallbackIssuer::new(vec![Arc::new(Named("only"))], 3);
        assert_eq!(one.for_attempt(10).unwrap().name(), "only");
        assert!(FallbackIssuer::new(Vec::new(), 3).pick(1).is_none());
    }
}
