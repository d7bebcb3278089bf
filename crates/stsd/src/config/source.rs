//! Where a configuration value comes from: a `STSD_*` variable (or the file a `STSD_*_FILE`
//! variable names), else the TOML file, else the default. One [`Key`] names both spellings —
//! `[api] listen` in the file is `STSD_API_LISTEN` in the environment — so every key is
//! declared once, where it is read.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::ConfigError;

/// A configuration key: its section (`None` at the top of the file) and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) section: Option<&'static str>,
    pub(crate) name: &'static str,
}

/// A key at the top of the file (`service_zone`, `STSD_SERVICE_ZONE`).
pub(crate) const fn top(name: &'static str) -> Key {
    Key {
        section: None,
        name,
    }
}

/// A key of a section (`[api] listen`, `STSD_API_LISTEN`).
pub(crate) const fn key(section: &'static str, name: &'static str) -> Key {
    Key {
        section: Some(section),
        name,
    }
}

impl Key {
    /// The environment variable: `STSD_` + section + `_` + name, upper case.
    pub(crate) fn env(self) -> String {
        match self.section {
            Some(s) => format!("STSD_{}_{}", s, self.name).to_uppercase(),
            None => format!("STSD_{}", self.name).to_uppercase(),
        }
    }

    /// How the file spells it, for messages: `[api] listen` or `service_zone`.
    pub(crate) fn file(self) -> String {
        match self.section {
            Some(s) => format!("[{s}] {}", self.name),
            None => self.name.to_owned(),
        }
    }

    /// The spelling of files written before the sections (`api_listen` at the top), still
    /// read.
    fn flat(self) -> String {
        match self.section {
            Some(s) => format!("{s}_{}", self.name),
            None => self.name.to_owned(),
        }
    }
}

/// The most a `STSD_<KEY>_FILE` file may hold: values are keys, URLs and lists, never large.
const VALUE_FILE_LIMIT: u64 = 64 * 1024;

/// The value in the file a `STSD_<KEY>_FILE` variable names (a container secret, mounted as
/// a file so that it appears in no process environment): its text without the final line
/// break.
fn read_value_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut text = String::new();
    file.take(VALUE_FILE_LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {} as UTF-8 text: {e}", path.display()))?;
    if text.len() as u64 > VALUE_FILE_LIMIT {
        return Err(format!(
            "{} is larger than {VALUE_FILE_LIMIT} bytes",
            path.display()
        ));
    }
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// A value as found, before it is parsed.
#[derive(Debug, Clone)]
pub(crate) enum Raw {
    /// A single value (TOML strings, numbers and booleans are read as their text).
    One(String),
    /// A list: a TOML array, or a comma-separated variable.
    List(Vec<String>),
}

impl Raw {
    /// The value as one string (a list joined with commas).
    pub(crate) fn one(self) -> String {
        match self {
            Raw::One(s) => s,
            Raw::List(items) => items.join(","),
        }
    }

    /// The value as a list (a single value split at commas).
    pub(crate) fn list(self) -> Vec<String> {
        match self {
            Raw::List(items) => items,
            Raw::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// One effective value, for `stsd config`.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    pub(crate) key: Key,
    pub(crate) value: toml::Value,
}

/// The variables and the parsed file, and what was read from them.
pub(crate) struct Source<'a> {
    path: Option<&'a Path>,
    file: toml::Table,
    env: &'a BTreeMap<String, String>,
    /// File keys read so far (`api.listen` or `api_listen`), to report unknown ones.
    used: RefCell<BTreeSet<String>>,
    shown: RefCell<Vec<Shown>>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(
        path: Option<&'a Path>,
        file: toml::Table,
        env: &'a BTreeMap<String, String>,
    ) -> Source<'a> {
        Source {
            path,
            file,
            env,
            used: RefCell::new(BTreeSet::new()),
            shown: RefCell::new(Vec::new()),
        }
    }

    /// The raw value of `key` and where it came from (`STSD_API_LISTEN`, or `[api] listen in
    /// stsd.toml`), if set.
    pub(crate) fn raw(&self, key: Key) -> Result<Option<(Raw, String)>, ConfigError> {
        // The file is looked at first even when a variable wins, so that a key set in both
        // is not reported as unknown.
        let in_file = |spelling: String| match self.path {
            Some(p) => format!("{spelling} in {}", p.display()),
            None => spelling,
        };
        let sectioned = key.section.and_then(|s| {
            self.file
                .get(s)
                .and_then(toml::Value::as_table)
                .and_then(|t| t.get(key.name))
        });
        let found = match sectioned {
            Some(v) => {
                self.used.borrow_mut().insert(format!(
                    "{}.{}",
                    key.section.unwrap_or_default(),
                    key.name
                ));
                Some((v, in_file(key.file())))
            }
            None => match self.file.get(&key.flat()) {
                Some(v) if !v.is_table() => {
                    self.used.borrow_mut().insert(key.flat());
                    Some((v, in_file(key.flat())))
                }
                _ => None,
            },
        };
        let env = key.env();
        let file_env = format!("{env}_FILE");
        match (self.env.get(&env), self.env.get(&file_env)) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: file_env,
                    problem: format!("set {env} or {env}_FILE, not both"),
                });
            }
            (Some(v), None) => return Ok(Some((Raw::One(v.clone()), env))),
            (None, Some(path)) => {
                let value =
                    read_value_file(Path::new(path)).map_err(|problem| ConfigError::Invalid {
                        key: file_env.clone(),
                        problem,
                    })?;
                return Ok(Some((Raw::One(value), format!("{file_env} ({path})"))));
            }
            (None, None) => {}
        }
        let Some((value, at)) = found else {
            return Ok(None);
        };
        let raw = match value {
            toml::Value::String(s) => Raw::One(s.clone()),
            toml::Value::Integer(n) => Raw::One(n.to_string()),
            toml::Value::Boolean(b) => Raw::One(b.to_string()),
            toml::Value::Array(items) => Raw::List(
                items
                    .iter()
                    .map(|i| match i {
                        toml::Value::String(s) => Ok(s.clone()),
                        toml::Value::Integer(n) => Ok(n.to_string()),
                        other => Err(ConfigError::Invalid {
                            key: at.clone(),
                            problem: format!("`{other}` in the list is not a string"),
                        }),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => {
                return Err(ConfigError::Invalid {
                    key: at,
                    problem: format!("`{other}` is not a string, number, boolean or list"),
                });
            }
        };
        Ok(Some((raw, at)))
    }

    /// Records the effective value of `key` for `stsd config` (secrets already masked).
    pub(crate) fn show(&self, key: Key, value: impl Into<toml::Value>) {
        self.shown.borrow_mut().push(Shown {
            key,
            value: value.into(),
        });
    }

    /// Every file key that no [`Source::raw`] read: misspellings and keys of other versions.
    pub(crate) fn unknown_keys(&self) -> Vec<String> {
        let used = self.used.borrow();
        let mut unknown = Vec::new();
        for (name, value) in &self.file {
            match value.as_table() {
                Some(section) => {
                    for sub in section.keys() {
                        if !used.contains(&format!("{name}.{sub}")) {
                            unknown.push(format!("[{name}] {sub}"));
                        }
                    }
                }
                None if !used.contains(name) => unknown.push(name.clone()),
                None => {}
            }
        }
        unknown
    }

    /// The recorded values, in the order they were read.
    pub(crate) fn into_shown(self) -> Vec<Shown> {
        self.shown.into_inner()
    }
}
