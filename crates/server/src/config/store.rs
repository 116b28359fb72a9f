//! Which backend holds the data, with what it needs to be opened: the typed form of the
//! `store` setting and the `[mongo]` table, so that a MongoDB store cannot be asked for
//! without its connection string.

use std::fmt;

use infra::mongo::MongoFaults;
use serde::Deserialize;

use super::value_names::named_value;

/// Which storage backend holds the data; the composition root (`crate::backend`) opens it
/// and hands the rest of the program its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(try_from = "String")]
pub enum StoreMode {
    /// The embedded store: one SQLite file in `data_dir`, no server to run.
    #[default]
    Embedded,
    /// MongoDB (a replica set or a sharded cluster), at `mongo.uri`.
    #[value(alias = "mongodb")]
    Mongo,
}

impl TryFrom<String> for StoreMode {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        named_value(&value)
    }
}

/// The backend [`crate::backend::open`] opens.
#[derive(Debug, Clone)]
pub enum Store {
    /// The embedded store, in `Config::data_dir`.
    Embedded,
    /// A MongoDB deployment.
    Mongo(MongoConfig),
}

impl Store {
    /// The setting's value that names this backend.
    pub fn mode(&self) -> StoreMode {
        match self {
            Self::Embedded => StoreMode::Embedded,
            Self::Mongo(_) => StoreMode::Mongo,
        }
    }
}

/// Where the MongoDB store is.
#[derive(Debug, Clone)]
pub struct MongoConfig {
    /// The connection string.
    pub uri: MongoUri,
    /// The database holding the store.
    pub database: String,
    /// Failures the tests inject into commits (none unless a test turns them on).
    pub faults: MongoFaults,
}

impl MongoConfig {
    /// A store in `database` at `uri`, no failures injected.
    pub fn new(uri: impl Into<String>, database: impl Into<String>) -> Self {
        Self {
            uri: MongoUri::new(uri.into()),
            database: database.into(),
            faults: MongoFaults::default(),
        }
    }
}

/// A MongoDB connection string, which may hold a password: it prints with the password
/// masked ([`fmt::Display`] and [`fmt::Debug`]), and only [`MongoUri::expose`] gives it whole,
/// to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct MongoUri(String);

impl MongoUri {
    /// Wraps a connection string.
    pub fn new(uri: String) -> Self {
        Self(uri)
    }

    /// The whole connection string, password included: for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The connection string with the password of its user information, if any, replaced
    /// by `****`.
    pub fn masked(&self) -> String {
        mask_password(&self.0)
    }
}

impl fmt::Display for MongoUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for MongoUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MongoUri({:?})", self.masked())
    }
}

/// `scheme://user:password@hosts/...` → `scheme://user:****@hosts/...`; anything else as is.
/// The user information ends at the last `@` before the path (a password may hold `@` only
/// percent-encoded, but a careless one is masked whole all the same).
pub fn mask_password(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return uri.to_owned();
    };
    let (user_info, hosts) = authority.split_at(at);
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:****{hosts}{tail}"),
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_masked_and_nothing_else_is() {
        assert_eq!(
            mask_password("mongodb://app:s3cr%40t@db1:27017,db2/offchain?replicaSet=rs0"),
            "mongodb://app:****@db1:27017,db2/offchain?replicaSet=rs0"
        );
        assert_eq!(
            mask_password("mongodb+srv://app:p@ss@cluster.example.net/?tls=true"),
            "mongodb+srv://app:****@cluster.example.net/?tls=true"
        );
        assert_eq!(
            mask_password("mongodb://127.0.0.1:27017/?replicaSet=rs0"),
            "mongodb://127.0.0.1:27017/?replicaSet=rs0"
        );
        assert_eq!(
            mask_password("mongodb://x509user@db/?authMechanism=MONGODB-X509"),
            "mongodb://x509user@db/?authMechanism=MONGODB-X509"
        );
        let uri = MongoUri::new("mongodb://u:secret@h/".to_owned());
        assert!(!format!("{uri} {uri:?}").contains("secret"));
        assert_eq!(uri.expose(), "mongodb://u:secret@h/");
    }
}
