//! Loading the settings in layers: defaults → TOML file → environment → flags (highest).
//!
//! The `config` crate merges the file and the environment and deserializes the result; the
//! flags, already typed by clap, are applied on top. Where each value came from is worked out
//! here, from the layers themselves, so that both `offchain-db config` and every error can name
//! the file, the variable or the flag. The environment is passed in (never read here), so
//! tests need no process-global state.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use config::{ConfigError, Environment, File, FileFormat, Source};

use super::error::SettingsError;
use super::key::{Key, Origin};
use super::overrides::Overrides;
use super::settings::Settings;

/// The environment variable naming the configuration file (`--config` wins over it).
pub const CONFIG_FILE_ENV: &str = "OFFCHAIN_CONFIG";
/// The flag naming the configuration file.
pub const CONFIG_FILE_FLAG: &str = "--config";
/// Every variable of ours starts with this, then `_`.
const ENV_PREFIX: &str = "OFFCHAIN";
/// Variables earlier versions read, and what replaced them. Their old meaning would clash with
/// the `[log]` table, so they are refused rather than silently ignored.
const RETIRED_VARIABLES: [(&str, &str); 2] = [
    ("OFFCHAIN_LOG", "OFFCHAIN_LOG__LEVEL"),
    ("OFFCHAIN_LOG_FORMAT", "OFFCHAIN_LOG__FORMAT"),
];

/// The effective settings, where each came from, and what was noticed on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    settings: Settings,
    origins: BTreeMap<Key, Origin>,
    warnings: Vec<String>,
}

impl Loaded {
    /// The effective settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Where `key`'s value came from.
    pub fn origin(&self, key: Key) -> &Origin {
        self.origins.get(&key).unwrap_or(&Origin::Default)
    }

    /// Things worth telling the operator that do not stop the start (an unknown
    /// `OFFCHAIN_*` variable, most likely a typo).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Loads the settings from the defaults, the TOML file (`--config` or `OFFCHAIN_CONFIG`), the
/// given environment and the flags, each layer overriding the ones before, then checks them.
///
/// # Errors
/// A [`SettingsError`] naming the setting and the file, variable or flag it came from.
pub fn load<I, K, V>(overrides: &Overrides, env: I) -> Result<Loaded, SettingsError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<OsString>,
    V: Into<OsString>,
{
    let env = EnvLayer::scan(env)?;
    let named_file = match (&overrides.config_file, &env.config_file) {
        (Some(path), _) => Some((path.clone(), Origin::Flag(CONFIG_FILE_FLAG))),
        (None, Some(path)) => Some((path.clone(), Origin::Env(CONFIG_FILE_ENV))),
        (None, None) => None,
    };
    let file = named_file
        .map(|(path, named_by)| FileLayer::read(path, named_by))
        .transpose()?;

    // Where each value the `config` crate merges came from (flags are applied after it).
    let merged_origins: BTreeMap<Key, Origin> = Key::ALL
        .into_iter()
        .map(|key| {
            let origin = if env.values.contains_key(&key) {
                Origin::Env(key.env())
            } else if let Some(file) = file.as_ref().filter(|file| file.keys.contains(&key)) {
                Origin::File(file.path.clone())
            } else {
                Origin::Default
            };
            (key, origin)
        })
        .collect();

    let mut builder = config::Config::builder();
    if let Some(file) = &file {
        builder = builder.add_source(file.source.clone());
    }
    let variables: config::Map<String, String> = env
        .values
        .iter()
        .map(|(key, value)| (key.env().to_owned(), value.clone()))
        .collect();
    // No `try_parsing`: it would turn OFFCHAIN_DATA_DIR=007 into the folder "7". Numbers are
    // parsed from the strings by the settings' own deserializers instead.
    let merged = builder
        .add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .source(Some(variables)),
        )
        .build()
        .map_err(|error| SettingsError::Other(error.to_string()))?;
    let mut settings: Settings = merged
        .try_deserialize()
        .map_err(|error| attribute(error, &merged_origins))?;
    overrides.apply(&mut settings);
    let origins: BTreeMap<Key, Origin> = merged_origins
        .into_iter()
        .map(|(key, origin)| {
            if overrides.has(key) {
                (key, Origin::Flag(key.flag()))
            } else {
                (key, origin)
            }
        })
        .collect();
    settings
        .validate()
        .map_err(|(key, reason)| SettingsError::Invalid {
            key,
            origin: origins.get(&key).cloned().unwrap_or(Origin::Default),
            reason,
        })?;
    Ok(Loaded {
        settings,
        origins,
        warnings: env.warnings,
    })
}

/// Our variables, taken from the whole environment.
struct EnvLayer {
    values: BTreeMap<Key, String>,
    config_file: Option<PathBuf>,
    warnings: Vec<String>,
}

impl EnvLayer {
    fn scan<I, K, V>(env: I) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut layer = Self {
            values: BTreeMap::new(),
            config_file: None,
            warnings: Vec::new(),
        };
        let prefix = format!("{ENV_PREFIX}_");
        for (name, value) in env {
            // Names that are not Unicode cannot be ours.
            let Ok(name) = name.into().into_string() else {
                continue;
            };
            let value = value.into();
            if name == CONFIG_FILE_ENV {
                layer.config_file = Some(PathBuf::from(value));
            } else if let Some(key) = Key::from_env(&name) {
                let value = value.into_string().map_err(|_| SettingsError::Invalid {
                    key,
                    origin: Origin::Env(key.env()),
                    reason: "not valid Unicode".to_owned(),
                })?;
                layer.values.insert(key, value);
            } else if let Some(&(name, replacement)) =
                RETIRED_VARIABLES.iter().find(|(old, _)| *old == name)
            {
                return Err(SettingsError::RetiredVariable { name, replacement });
            } else if name.starts_with(&prefix) {
                layer
                    .warnings
                    .push(format!("ignoring unknown environment variable {name}"));
            }
        }
        layer.warnings.sort();
        Ok(layer)
    }
}

/// The TOML file: parsed, and checked for keys that are not settings.
struct FileLayer {
    path: PathBuf,
    source: config::Config,
    keys: BTreeSet<Key>,
}

impl FileLayer {
    fn read(path: PathBuf, named_by: Origin) -> Result<Self, SettingsError> {
        // Read here rather than with `config::File::from(path)`: that one quietly tries other
        // extensions when the exact file is missing, and its errors may omit the path.
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) => {
                return Err(SettingsError::FileUnreadable {
                    path,
                    named_by,
                    source,
                });
            }
        };
        let source = match config::Config::builder()
            .add_source(File::from_str(&text, FileFormat::Toml))
            .build()
        {
            Ok(source) => source,
            Err(error) => {
                return Err(SettingsError::FileSyntax {
                    path,
                    message: error.to_string(),
                });
            }
        };
        let table = source
            .collect()
            .map_err(|error| SettingsError::Other(error.to_string()))?;
        let keys = known_keys(&path, table)?;
        Ok(Self { path, source, keys })
    }
}

/// The settings a file sets; any other key is an error (a typo should not pass unnoticed).
fn known_keys(
    path: &Path,
    table: config::Map<String, config::Value>,
) -> Result<BTreeSet<Key>, SettingsError> {
    let tables: BTreeSet<&str> = Key::ALL
        .iter()
        .filter_map(|key| key.path().split_once('.').map(|(table, _)| table))
        .collect();
    let mut keys = BTreeSet::new();
    let mut entries: Vec<(String, config::Value)> = table.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in entries {
        if let Some(key) = Key::from_path(&name) {
            keys.insert(key);
        } else if tables.contains(name.as_str()) {
            let Ok(inner) = value.into_table() else {
                return Err(SettingsError::NotATable {
                    key: name,
                    path: path.to_owned(),
                });
            };
            let mut inner: Vec<String> = inner.into_keys().collect();
            inner.sort();
            for sub in inner {
                let dotted = format!("{name}.{sub}");
                let Some(key) = Key::from_path(&dotted) else {
                    return Err(SettingsError::UnknownKey {
                        key: dotted,
                        path: path.to_owned(),
                    });
                };
                keys.insert(key);
            }
        } else {
            return Err(SettingsError::UnknownKey {
                key: name,
                path: path.to_owned(),
            });
        }
    }
    Ok(keys)
}

/// Names the setting and the layer its bad value came from; the `config` crate says at best
/// "in the environment", and for most errors nothing.
fn attribute(error: ConfigError, origins: &BTreeMap<Key, Origin>) -> SettingsError {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "ConfigError is non_exhaustive; the other variants name no key"
    )]
    let (key, reason) = match error {
        ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => (
            key,
            format!("invalid type: {unexpected}, expected {expected}"),
        ),
        ConfigError::At { error, key, .. } => (key, error.to_string()),
        other => (None, other.to_string()),
    };
    match key.as_deref().map(|path| (path, Key::from_path(path))) {
        Some((_, Some(key))) => SettingsError::Invalid {
            key,
            origin: origins.get(&key).cloned().unwrap_or(Origin::Default),
            reason,
        },
        Some((path, None)) => SettingsError::Other(format!("`{path}`: {reason}")),
        None => SettingsError::Other(reason),
    }
}
