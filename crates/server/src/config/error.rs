//! Why a configuration could not be loaded, always naming the setting and where its value came
//! from: the `config` crate's own messages say "in the environment" at best, never which
//! variable, and nothing at all for a flag.

use std::path::PathBuf;

use super::key::{Key, Origin};

/// A configuration that cannot be used; the process exits with
/// [`CONFIG_ERROR_EXIT_CODE`](super::CONFIG_ERROR_EXIT_CODE).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {} (named by {named_by}): {source}", path.display())]
    FileUnreadable {
        /// The file.
        path: PathBuf,
        /// `--config` or `OFFCHAIN_CONFIG`.
        named_by: Origin,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML.
    #[error("configuration file {} is not valid TOML: {message}", path.display())]
    FileSyntax {
        /// The file.
        path: PathBuf,
        /// The parser's explanation (line and column included).
        message: String,
    },
    /// The configuration file has a key that is not a setting (a typo, most likely).
    #[error(
        "unknown setting `{key}` in configuration file {}; the settings are: {}",
        path.display(),
        known_paths()
    )]
    UnknownKey {
        /// The dotted key as written.
        key: String,
        /// The file.
        path: PathBuf,
    },
    /// A setting's value is not valid.
    #[error("invalid value for `{key}` from {origin}: {reason}")]
    Invalid {
        /// The setting.
        key: Key,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong with it.
        reason: String,
    },
    /// A table key (`[log]`) was given something other than a table.
    #[error("`{key}` in configuration file {} must be a table ([{key}])", path.display())]
    NotATable {
        /// The key.
        key: String,
        /// The file.
        path: PathBuf,
    },
    /// An environment variable that earlier versions read is set; it means something else now.
    #[error("environment variable {name} is no longer read: use {replacement} instead")]
    RetiredVariable {
        /// The old variable.
        name: &'static str,
        /// What replaces it.
        replacement: &'static str,
    },
    /// An error of the `config` crate that names no setting.
    #[error("{0}")]
    Other(String),
}

fn known_paths() -> String {
    Key::ALL
        .iter()
        .map(|key| format!("`{}`", key.path()))
        .collect::<Vec<_>>()
        .join(", ")
}
