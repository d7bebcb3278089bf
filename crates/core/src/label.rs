//! The random per-registration token that names a customer's zone in the
//! service (for example `<label>.sts.example.net`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::LabelError;

/// Length of a label in characters.
const LEN: usize = 10;

/// The 32 label characters: `a`-`z` without `l` and `o`, and `2`-`9`.
/// `l`/`1` and `o`/`0` are left out because they are easily confused when
/// read aloud or copied from a screen. 32 symbols make `byte % 32` exactly
/// uniform.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// The letters of [`ALPHABET`], for the first character.
const LETTERS: &[u8; 24] = b"abcdefghijkmnpqrstuvwxyz";

/// A 10-character token from a 32-symbol alphabet (a-z without `l` and `o`,
/// digits 2-9), starting with a letter so it is always a valid DNS label and
/// never looks like a number.
///
/// About 49.6 bits of entropy: 24 choices for the first character and 32 for
/// each of the other nine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// Maps 10 random bytes to a label.
    ///
    /// Bytes 1-9 map with `byte % 32`, which is exactly uniform. The first
    /// byte maps with `byte % 24` to a letter; since 256 is not a multiple of
    /// 24, the first 16 letters are 11/256 likely instead of 10/256. That
    /// bias costs less than 0.1 bit and is accepted so the function can take
    /// a fixed-size input and never fail.
    pub fn from_entropy(bytes: &[u8; 10]) -> Label {
        let label = bytes
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let byte = usize::from(*b);
                // The modulo keeps both indexes in bounds.
                char::from(if i == 0 {
                    LETTERS[byte % LETTERS.len()]
                } else {
                    ALPHABET[byte % ALPHABET.len()]
                })
            })
            .collect();
        Label(label)
    }

    /// The label text, lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Label {
    type Err = LabelError;

    /// Validates a label. ASCII upper case is accepted and lower-cased,
    /// because labels arrive in host names, which are case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let len = s.chars().count();
        if len != LEN {
            return Err(LabelError::WrongLength { len });
        }
        let lower = s.to_ascii_lowercase();
        if let Some(ch) = lower
            .chars()
            .find(|c| !c.is_ascii() || !ALPHABET.contains(&(*c as u8)))
        {
            return Err(LabelError::InvalidChar { ch });
        }
        if lower.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(LabelError::StartsWithDigit);
        }
        Ok(Label(lower))
    }
}

impl TryFrom<String> for Label {
    type Error = LabelError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Label> for String {
    fn from(value: Label) -> Self {
        value.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn from_entropy_maps_bytes() {
        assert_eq!(Label::from_entropy(&[0; 10]).as_str(), "aaaaaaaaaa");
        assert_eq!(Label::from_entropy(&[255; 10]).as_str(), "r999999999");
        assert_eq!(
            Label::from_entropy(&[23, 24, 25, 26, 27, 28, 29, 30, 31, 32]).as_str(),
            "z23456789a"
        );
    }

    #[test]
    fn validation() {
        assert_eq!(
            "abcdefghij".parse::<Label>().unwrap().as_str(),
            "abcdefghij"
        );
        assert_eq!(
            "ABCDEFGH23".parse::<Label>().unwrap().as_str(),
            "abcdefgh23"
        );
        assert_eq!(
            "abc".parse::<Label>(),
            Err(LabelError::WrongLength { len: 3 })
        );
        assert_eq!(
            "abcdefghijk".parse::<Label>(),
            Err(LabelError::WrongLength { len: 11 })
        );
        assert_eq!(
            "2bcdefghij".parse::<Label>(),
            Err(LabelError::StartsWithDigit)
        );
        for (s, ch) in [
            ("abcdefghil", 'l'),
            ("abcdefgho0", 'o'),
            ("abcdefgh1a", '1'),
            ("abcdefgh-a", '-'),
            ("abcdefghüa", 'ü'),
        ] {
            assert_eq!(
                s.parse::<Label>(),
                Err(LabelError::InvalidChar { ch }),
                "{s}"
            );
        }
    }

    #[test]
    fn serde() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StringDeserializer};
        let de: StringDeserializer<Error> = "abcdefgh23".to_owned().into_deserializer();
        assert_eq!(Label::deserialize(de).unwrap().as_str(), "abcdefgh23");
        let de: StringDeserializer<Error> = "abc".to_owned().into_deserializer();
        assert!(Label::deserialize(de).is_err());
    }

    proptest! {
        #[test]
        fn from_entropy_is_valid(bytes in any::<[u8; 10]>()) {
            let label = Label::from_entropy(&bytes);
            prop_assert_eq!(label.as_str().parse::<Label>(), Ok(label.clone()));
            prop_assert!(label.as_str().starts_with(|c: char| c.is_ascii_lowercase()));
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            if let Ok(label) = s.parse::<Label>() {
                prop_assert_eq!(label.as_str().len(), 10);
            }
        }
    }
}
