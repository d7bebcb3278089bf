//! Typed row ids and randomness.

use std::fmt;

use stsd_core::Label;

use crate::error::StoreError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A new random id (UUIDv7: time-ordered, unguessable in its random part).
            pub(crate) fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Wraps an id read from the database or a request. Ids are opaque: an id that
            /// names nothing simply finds nothing.
            pub fn from_raw(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Identifies a tenant.
    TenantId
);
id_type!(
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies one registration of a domain (a name may be registered many times).
    DomainId
);

/// A new random id for rows that are not addressed by a typed id.
pub(crate) fn row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A fresh random registration label.
pub(crate) fn random_label() -> Result<Label, StoreError> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(Label::from_entropy(&bytes))
}
