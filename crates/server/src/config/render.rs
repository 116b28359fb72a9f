//! `offchain-db config`: the effective settings as a TOML file that can be fed back through
//! `--config`, each value followed by a comment saying where it came from. The one exception
//! is a password in `mongo.uri`, printed as `****`: the output is meant to be shared.

use std::fmt::Write as _;

use super::key::Key;
use super::load::Loaded;
use super::store::mask_password;
use super::value_names::value_name;

impl Loaded {
    /// The effective settings as TOML, one `# from ...` (or `# default`) comment per value.
    pub fn to_toml(&self) -> String {
        let settings = self.settings();
        let mut out = String::from(
            "# Effective configuration of offchain-db; the highest layer wins:\n\
             # flag > environment variable > configuration file > default.\n",
        );
        let mut table = "";
        for key in Key::ALL {
            let (section, name) = key.path().split_once('.').unwrap_or(("", key.path()));
            if section != table {
                table = section;
                let _infallible = write!(out, "\n[{section}]\n");
            }
            let value = match key {
                Key::TlogSigningKey => match &settings.tlog.signing_key {
                    Some(path) => quoted(&path.to_string_lossy()),
                    None => {
                        unset(&mut out, name, UNSET_SIGNING_KEY);
                        continue;
                    }
                },
                Key::TlogSignerState => match &settings.tlog.signer_state {
                    Some(path) => quoted(&path.to_string_lossy()),
                    None => {
                        unset(&mut out, name, UNSET_SIGNER_STATE);
                        continue;
                    }
                },
                Key::TlogOrigin => match &settings.tlog.origin {
                    Some(origin) => quoted(origin),
                    None => {
                        unset(&mut out, name, UNSET_ORIGIN);
                        continue;
                    }
                },
                Key::MongoUri => match &settings.mongo.uri {
                    Some(uri) => quoted(&mask_password(uri)),
                    None => {
                        unset(&mut out, name, UNSET_MONGO_URI);
                        continue;
                    }
                },
                Key::MongoDatabase => quoted(&settings.mongo.database),
                Key::Listen => quoted(&settings.listen.to_string()),
                Key::Store => quoted(&value_name(&settings.store)),
                Key::DataDir => quoted(&settings.data_dir.to_string_lossy()),
                Key::MaxDocumentBytes => settings.max_document_bytes.to_string(),
                Key::Durability => quoted(&value_name(&settings.durability)),
                Key::Serving => quoted(&value_name(&settings.serving)),
                Key::DocumentCacheMib => settings.document_cache_mib.to_string(),
                Key::MaxSchemaBytes => settings.max_schema_bytes.to_string(),
                Key::SchemaCacheMib => settings.schema_cache_mib.to_string(),
                Key::RequestTimeoutSecs => settings.request_timeout_secs.to_string(),
                Key::ShutdownTimeoutSecs => settings.shutdown_timeout_secs.to_string(),
                Key::HeaderReadTimeoutSecs => settings.header_read_timeout_secs.to_string(),
                Key::KeepAliveTimeoutSecs => settings.keep_alive_timeout_secs.to_string(),
                Key::MaxConnections => settings.max_connections.to_string(),
                Key::LogLevel => quoted(&settings.log.level),
                Key::LogFormat => quoted(&value_name(&settings.log.format)),
                Key::TlogCheckpointIntervalMs => settings.tlog.checkpoint_interval_ms.to_string(),
            };
            let _infallible = writeln!(out, "{name} = {value}  {}", self.origin(key).comment());
        }
        out
    }
}

/// What an unset `tlog.signing_key` means.
const UNSET_SIGNING_KEY: &str = "<data_dir>/log-signing.key, generated on first start";
/// What an unset `tlog.signer_state` means.
const UNSET_SIGNER_STATE: &str = "<key file>.signer-state, beside the key file";
/// What an unset `mongo.uri` means.
const UNSET_MONGO_URI: &str = "required with store = \"mongo\"";
/// What an unset `tlog.origin` means.
const UNSET_ORIGIN: &str = "offchain-db/ + 16 hex characters of SHA-256 of the public key";

/// An unset optional setting has no TOML spelling: a comment says what applies, and the file
/// stays readable through `--config`.
fn unset(out: &mut String, name: &str, meaning: &str) {
    let _infallible = writeln!(out, "# {name} is unset: {meaning}");
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _infallible = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
