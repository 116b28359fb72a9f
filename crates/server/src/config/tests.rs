//! Precedence of the layers and the wording of errors. The environment is always a literal list
//! here: no test touches the process environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;

type Env = Vec<(&'static str, &'static str)>;

fn addr(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("test address {text}: {e}"))
}

/// A folder holding `offchain.toml` with `text`.
fn file(text: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("offchain.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    (dir, path)
}

fn with_file(path: &Path) -> Overrides {
    Overrides {
        config_file: Some(path.to_owned()),
        ..Overrides::default()
    }
}

fn loaded(overrides: &Overrides, env: Env) -> Loaded {
    load(overrides, env).unwrap_or_else(|e| panic!("load: {e}"))
}

fn refused(overrides: &Overrides, env: Env) -> String {
    match load(overrides, env) {
        Ok(loaded) => panic!("expected an error, got {:#?}", loaded.settings()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn with_nothing_given_every_setting_is_its_default() {
    let loaded = loaded(
        &Overrides::default(),
        vec![("PATH", "/bin"), ("HOME", "/root")],
    );
    assert_eq!(loaded.settings(), &Settings::default());
    let settings = loaded.settings();
    assert_eq!(settings.listen, addr("127.0.0.1:8080"));
    assert_eq!(settings.data_dir, PathBuf::from("./data"));
    assert_eq!(settings.max_document_bytes, 1024 * 1024);
    assert_eq!(settings.durability, DurabilityMode::Full);
    assert_eq!(settings.serving, ServingMode::PerThread);
    assert_eq!(settings.store, StoreMode::Embedded);
    assert_eq!(settings.to_config().store.mode(), StoreMode::Embedded);
    assert_eq!(
        settings.to_config().serving,
        crate::serving::Serving::one_thread_per_core()
    );
    assert_eq!(settings.document_cache_mib, 64);
    assert_eq!(
        settings.to_config().document_cache_bytes,
        infra::embedded::DEFAULT_DOCUMENT_CACHE_BYTES
    );
    assert_eq!(settings.max_schema_bytes, 256 * 1024);
    assert_eq!(settings.schema_cache_mib, 32);
    assert_eq!(
        settings.to_config().schema_cache_bytes,
        infra::schema::cache::DEFAULT_SCHEMA_CACHE_BYTES
    );
    assert_eq!(settings.request_timeout_secs, 30);
    assert_eq!(settings.shutdown_timeout_secs, 30);
    assert_eq!(settings.header_read_timeout_secs, 10);
    assert_eq!(settings.keep_alive_timeout_secs, 60);
    assert_eq!(settings.max_connections, 10_000);
    assert_eq!(
        settings.to_config().connections,
        crate::connection_limits::ConnectionLimits::default()
    );
    assert_eq!(settings.log.level, "info");
    assert_eq!(settings.log.format, LogFormat::Json);
    assert_eq!(settings.tlog.signing_key, None);
    assert_eq!(settings.tlog.origin, None);
    assert_eq!(settings.tlog.checkpoint_interval_ms, 200);
    for key in Key::ALL {
        assert_eq!(loaded.origin(key), &Origin::Default, "{key}");
    }
    assert!(loaded.warnings().is_empty());
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let (_dir, path) = file("listen = \"127.0.0.1:7001\"\n");
    let env: Env = vec![("OFFCHAIN_LISTEN", "127.0.0.1:7002")];
    let flag = Overrides {
        listen: Some(addr("127.0.0.1:7003")),
        ..with_file(&path)
    };
    let cases: [(&str, Overrides, Env, &str, Origin); 4] = [
        (
            "all three",
            flag,
            env.clone(),
            "127.0.0.1:7003",
            Origin::Flag("--listen"),
        ),
        (
            "file and env",
            with_file(&path),
            env,
            "127.0.0.1:7002",
            Origin::Env("OFFCHAIN_LISTEN"),
        ),
        (
            "file only",
            with_file(&path),
            vec![],
            "127.0.0.1:7001",
            Origin::File(path.clone()),
        ),
        (
            "none",
            Overrides::default(),
            vec![],
            "127.0.0.1:8080",
            Origin::Default,
        ),
    ];
    for (case, overrides, env, expected, origin) in cases {
        let loaded = loaded(&overrides, env);
        assert_eq!(loaded.settings().listen, addr(expected), "case {case}");
        assert_eq!(loaded.origin(Key::Listen), &origin, "case {case}");
    }
}

#[test]
fn every_setting_is_read_from_its_environment_variable() {
    let env: Env = vec![
        ("OFFCHAIN_LISTEN", "0.0.0.0:9999"),
        ("OFFCHAIN_STORE", "embedded"),
        ("OFFCHAIN_DATA_DIR", "/var/lib/offchain"),
        ("OFFCHAIN_MAX_DOCUMENT_BYTES", "2048"),
        ("OFFCHAIN_DURABILITY", "normal"),
        ("OFFCHAIN_SERVING", "shared"),
        ("OFFCHAIN_DOCUMENT_CACHE_MIB", "16"),
        ("OFFCHAIN_MAX_SCHEMA_BYTES", "65536"),
        ("OFFCHAIN_SCHEMA_CACHE_MIB", "8"),
        ("OFFCHAIN_REQUEST_TIMEOUT_SECS", "5"),
        ("OFFCHAIN_SHUTDOWN_TIMEOUT_SECS", "0"),
        ("OFFCHAIN_HEADER_READ_TIMEOUT_SECS", "3"),
        ("OFFCHAIN_KEEP_ALIVE_TIMEOUT_SECS", "4"),
        ("OFFCHAIN_MAX_CONNECTIONS", "500"),
        ("OFFCHAIN_LOG__LEVEL", "server=debug,warn"),
        ("OFFCHAIN_LOG__FORMAT", "text"),
        ("OFFCHAIN_TLOG__SIGNING_KEY", "/etc/offchain/log.key"),
        ("OFFCHAIN_TLOG__ORIGIN", "example.com/ledger"),
        (
            "OFFCHAIN_TLOG__SIGNER_STATE",
            "/var/lib/offchain-signer/state",
        ),
        ("OFFCHAIN_TLOG__CHECKPOINT_INTERVAL_MS", "1000"),
        ("OFFCHAIN_MONGO__URI", "mongodb://db1/?replicaSet=rs0"),
        ("OFFCHAIN_MONGO__DATABASE", "ledger"),
    ];
    let loaded = loaded(&Overrides::default(), env);
    let expected = Settings {
        listen: addr("0.0.0.0:9999"),
        store: StoreMode::Embedded,
        data_dir: PathBuf::from("/var/lib/offchain"),
        max_document_bytes: 2048,
        durability: DurabilityMode::Normal,
        serving: ServingMode::Shared,
        document_cache_mib: 16,
        max_schema_bytes: 65536,
        schema_cache_mib: 8,
        request_timeout_secs: 5,
        shutdown_timeout_secs: 0,
        header_read_timeout_secs: 3,
        keep_alive_timeout_secs: 4,
        max_connections: 500,
        log: LogSettings {
            level: "server=debug,warn".to_owned(),
            format: LogFormat::Text,
        },
        tlog: TlogSettings {
            signing_key: Some(PathBuf::from("/etc/offchain/log.key")),
            origin: Some("example.com/ledger".to_owned()),
            signer_state: Some(PathBuf::from("/var/lib/offchain-signer/state")),
            checkpoint_interval_ms: 1000,
        },
        mongo: MongoSettings {
            uri: Some("mongodb://db1/?replicaSet=rs0".to_owned()),
            database: "ledger".to_owned(),
        },
    };
    assert_eq!(loaded.settings(), &expected);
    assert_eq!(expected.to_config().document_cache_bytes, 16 << 20);
    assert_eq!(expected.to_config().schema_cache_bytes, 8 << 20);
    assert_eq!(expected.to_config().max_schema_bytes, 65536);
    for key in Key::ALL {
        assert_eq!(loaded.origin(key), &Origin::Env(key.env()), "{key}");
    }
}

#[test]
fn every_setting_is_read_from_the_file_and_the_log_table() {
    let (_dir, path) = file(
        r#"
listen = "127.0.0.1:7100"
store = "embedded"
data_dir = "/srv/offchain"
max_document_bytes = 4096
durability = "normal"
serving = "shared"
document_cache_mib = 0
max_schema_bytes = 2048
schema_cache_mib = 0
request_timeout_secs = 7
shutdown_timeout_secs = 8
header_read_timeout_secs = 5
keep_alive_timeout_secs = 6
max_connections = 70

[log]
level = "debug"
format = "text"

[tlog]
signing_key = "/srv/keys/log.key"
origin = "example.com/log"
signer_state = "/srv/signer/log.state"
checkpoint_interval_ms = 50

[mongo]
uri = "mongodb://db1/?replicaSet=rs0"
database = "ledger"
"#,
    );
    let loaded = loaded(&with_file(&path), vec![]);
    let settings = loaded.settings();
    assert_eq!(settings.listen, addr("127.0.0.1:7100"));
    assert_eq!(settings.data_dir, PathBuf::from("/srv/offchain"));
    assert_eq!(settings.max_document_bytes, 4096);
    assert_eq!(settings.durability, DurabilityMode::Normal);
    assert_eq!(settings.serving, ServingMode::Shared);
    assert_eq!(settings.document_cache_mib, 0, "0 turns the cache off");
    assert_eq!(settings.max_schema_bytes, 2048);
    assert_eq!(settings.schema_cache_mib, 0);
    assert_eq!(settings.request_timeout_secs, 7);
    assert_eq!(settings.shutdown_timeout_secs, 8);
    assert_eq!(settings.header_read_timeout_secs, 5);
    assert_eq!(settings.keep_alive_timeout_secs, 6);
    assert_eq!(settings.max_connections, 70);
    assert_eq!(settings.log.level, "debug");
    assert_eq!(settings.log.format, LogFormat::Text);
    assert_eq!(
        settings.tlog.signing_key,
        Some(PathBuf::from("/srv/keys/log.key"))
    );
    assert_eq!(settings.tlog.origin.as_deref(), Some("example.com/log"));
    assert_eq!(
        settings.tlog.signer_state,
        Some(PathBuf::from("/srv/signer/log.state"))
    );
    assert_eq!(settings.tlog.checkpoint_interval_ms, 50);
    assert_eq!(
        settings.mongo.uri.as_deref(),
        Some("mongodb://db1/?replicaSet=rs0")
    );
    assert_eq!(settings.mongo.database, "ledger");
    for key in Key::ALL {
        assert_eq!(loaded.origin(key), &Origin::File(path.clone()), "{key}");
    }
}

#[test]
fn layers_merge_setting_by_setting_inside_the_log_table_too() {
    let (_dir, path) = file("[log]\nlevel = \"debug\"\nformat = \"text\"\n");
    let overrides = Overrides {
        log_format: Some(LogFormat::Json),
        ..with_file(&path)
    };
    let loaded = loaded(&overrides, vec![("OFFCHAIN_DURABILITY", "normal")]);
    assert_eq!(loaded.settings().log.level, "debug");
    assert_eq!(loaded.origin(Key::LogLevel), &Origin::File(path.clone()));
    assert_eq!(loaded.settings().log.format, LogFormat::Json);
    assert_eq!(loaded.origin(Key::LogFormat), &Origin::Flag("--log-format"));
    assert_eq!(loaded.settings().durability, DurabilityMode::Normal);
    assert_eq!(
        loaded.origin(Key::Durability),
        &Origin::Env("OFFCHAIN_DURABILITY")
    );
    assert_eq!(loaded.origin(Key::Listen), &Origin::Default);
}

#[test]
fn the_file_is_named_by_offchain_config_unless_the_flag_names_another() {
    let (_dir, from_env) = file("listen = \"127.0.0.1:7201\"\n");
    let (_dir2, from_flag) = file("listen = \"127.0.0.1:7202\"\n");
    let env_path: &'static str = Box::leak(from_env.display().to_string().into_boxed_str());
    let by_env = loaded(&Overrides::default(), vec![("OFFCHAIN_CONFIG", env_path)]);
    assert_eq!(by_env.settings().listen, addr("127.0.0.1:7201"));
    let by_flag = loaded(&with_file(&from_flag), vec![("OFFCHAIN_CONFIG", env_path)]);
    assert_eq!(by_flag.settings().listen, addr("127.0.0.1:7202"));
}

#[test]
fn environment_names_and_flags_follow_the_naming_rule() {
    for key in Key::ALL {
        let env = format!("OFFCHAIN_{}", key.path().replace('.', "__").to_uppercase());
        assert_eq!(key.env(), env, "{key}");
        let flag = format!("--{}", key.path().replace(['.', '_'], "-"));
        assert_eq!(key.flag(), flag, "{key}");
        assert_eq!(Key::from_path(key.path()), Some(key));
        assert_eq!(Key::from_env(key.env()), Some(key));
    }
}

#[test]
fn strings_from_the_environment_are_kept_as_written() {
    // `try_parsing` would have made these the number 7 and the boolean true.
    let loaded = loaded(
        &Overrides::default(),
        vec![
            ("OFFCHAIN_DATA_DIR", "007"),
            ("OFFCHAIN_LOG__LEVEL", "TRUE"),
        ],
    );
    assert_eq!(loaded.settings().data_dir, PathBuf::from("007"));
    assert_eq!(loaded.settings().log.level, "TRUE");
}

#[test]
fn a_bad_environment_value_is_refused_naming_the_setting_and_the_variable() {
    let cases: [(&str, &str, &str); 10] = [
        (
            "OFFCHAIN_REQUEST_TIMEOUT_SECS",
            "abc",
            "`request_timeout_secs`",
        ),
        (
            "OFFCHAIN_REQUEST_TIMEOUT_SECS",
            "yes",
            "`request_timeout_secs`",
        ),
        ("OFFCHAIN_REQUEST_TIMEOUT_SECS", "0", "must be at least 1"),
        ("OFFCHAIN_MAX_DOCUMENT_BYTES", "-5", "`max_document_bytes`"),
        ("OFFCHAIN_LISTEN", "localhost", "invalid socket address"),
        (
            "OFFCHAIN_DURABILITY",
            "fast",
            "expected `full` or `normal`, got \"fast\"",
        ),
        ("OFFCHAIN_LOG__LEVEL", "server=loud", "`log.level`"),
        (
            "OFFCHAIN_HEADER_READ_TIMEOUT_SECS",
            "0",
            "must be between 1 and 3600, got 0",
        ),
        (
            "OFFCHAIN_KEEP_ALIVE_TIMEOUT_SECS",
            "soon",
            "`keep_alive_timeout_secs`",
        ),
        ("OFFCHAIN_MAX_CONNECTIONS", "0", "must be at least 1, got 0"),
    ];
    for (name, value, expected) in cases {
        let message = refused(&Overrides::default(), vec![(name, value)]);
        assert!(message.contains(expected), "{name}={value}: {message}");
        assert!(
            message.contains(&format!("from environment variable {name}")),
            "{name}={value}: {message}"
        );
    }
}

#[test]
fn the_message_of_a_bad_environment_value_reads_well() {
    let message = refused(
        &Overrides::default(),
        vec![("OFFCHAIN_REQUEST_TIMEOUT_SECS", "abc")],
    );
    assert_eq!(
        message,
        "invalid value for `request_timeout_secs` from environment variable \
         OFFCHAIN_REQUEST_TIMEOUT_SECS: invalid value: string \"abc\", expected a whole number ≥ 0"
    );
}

#[test]
fn a_bad_file_value_is_refused_naming_the_setting_and_the_file() {
    let cases = [
        ("request_timeout_secs = \"abc\"", "`request_timeout_secs`"),
        ("request_timeout_secs = 1.5", "floating point `1.5`"),
        ("request_timeout_secs = true", "boolean `true`"),
        ("max_document_bytes = 100", "must be at least 1024, got 100"),
        (
            "header_read_timeout_secs = 0",
            "`header_read_timeout_secs` from configuration file",
        ),
        (
            "keep_alive_timeout_secs = 3601",
            "must be between 1 and 3600, got 3601",
        ),
        ("max_connections = 0", "`max_connections`"),
        ("max_connections = -1", "`max_connections`"),
        ("durability = \"fast\"", "`durability`"),
        ("serving = \"per-core\"", "`serving`"),
        ("listen = 8080", "`listen`"),
        ("[log]\nformat = \"yaml\"", "`log.format`"),
        ("data_dir = \"\"", "`data_dir`"),
    ];
    for (text, expected) in cases {
        let (_dir, path) = file(text);
        let message = refused(&with_file(&path), vec![]);
        assert!(message.contains(expected), "{text}: {message}");
        assert!(
            message.contains(&format!("from configuration file {}", path.display())),
            "{text}: {message}"
        );
    }
}

#[test]
fn a_bad_flag_value_is_refused_naming_the_flag() {
    let overrides = Overrides {
        max_document_bytes: Some(10),
        ..Overrides::default()
    };
    assert_eq!(
        refused(&overrides, vec![]),
        "invalid value for `max_document_bytes` from flag --max-document-bytes: \
         must be at least 1024, got 10"
    );
    let overrides = Overrides {
        log_level: Some("a=b=c".to_owned()),
        ..Overrides::default()
    };
    let message = refused(&overrides, vec![]);
    assert!(
        message.contains("`log.level` from flag --log-level"),
        "{message}"
    );
}

#[test]
fn a_good_value_in_a_higher_layer_does_not_hide_a_bad_one_below_it() {
    // Every layer is read in full; a broken variable is reported even when a flag wins.
    let overrides = Overrides {
        request_timeout_secs: Some(5),
        ..Overrides::default()
    };
    let message = refused(&overrides, vec![("OFFCHAIN_REQUEST_TIMEOUT_SECS", "abc")]);
    assert!(
        message.contains("OFFCHAIN_REQUEST_TIMEOUT_SECS"),
        "{message}"
    );
}

#[test]
fn an_unknown_key_in_the_file_is_refused_naming_it_and_the_file() {
    let cases = [
        ("lisen = \"127.0.0.1:1\"", "`lisen`"),
        ("[log]\nlevle = \"debug\"", "`log.levle`"),
        ("[server]\nlisten = \"127.0.0.1:1\"", "`server`"),
    ];
    for (text, key) in cases {
        let (_dir, path) = file(text);
        let message = refused(&with_file(&path), vec![]);
        assert!(
            message.starts_with(&format!(
                "unknown setting {key} in configuration file {}",
                path.display()
            )),
            "{text}: {message}"
        );
        assert!(
            message.contains("`log.format`"),
            "lists the settings: {message}"
        );
    }
}

#[test]
fn a_value_where_the_log_table_belongs_is_refused() {
    let (_dir, path) = file("log = \"debug\"");
    let message = refused(&with_file(&path), vec![]);
    assert!(message.contains("`log`"), "{message}");
    assert!(message.contains("must be a table"), "{message}");
}

#[test]
fn a_missing_or_broken_file_is_refused_naming_it_and_who_named_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let missing = dir.path().join("missing.toml");
    let message = refused(&with_file(&missing), vec![]);
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("named by flag --config"), "{message}");

    let missing_path: &'static str = Box::leak(missing.display().to_string().into_boxed_str());
    let message = refused(
        &Overrides::default(),
        vec![("OFFCHAIN_CONFIG", missing_path)],
    );
    assert!(
        message.contains("named by environment variable OFFCHAIN_CONFIG"),
        "{message}"
    );

    let (_dir, broken) = file("listen = \"127.0.0.1:1\"\nthis is not toml\n");
    let message = refused(&with_file(&broken), vec![]);
    assert!(
        message.starts_with(&format!(
            "configuration file {} is not valid TOML",
            broken.display()
        )),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn the_retired_log_variables_are_refused_with_their_replacement() {
    let message = refused(&Overrides::default(), vec![("OFFCHAIN_LOG", "debug")]);
    assert_eq!(
        message,
        "environment variable OFFCHAIN_LOG is no longer read: use OFFCHAIN_LOG__LEVEL instead"
    );
    let message = refused(&Overrides::default(), vec![("OFFCHAIN_LOG_FORMAT", "text")]);
    assert!(message.contains("OFFCHAIN_LOG__FORMAT"), "{message}");
}

#[test]
fn an_unknown_offchain_variable_is_a_warning_not_an_error() {
    let loaded = loaded(
        &Overrides::default(),
        vec![("OFFCHAIN_LISTN", "127.0.0.1:1"), ("OTHER_LISTEN", "x")],
    );
    assert_eq!(
        loaded.warnings(),
        ["ignoring unknown environment variable OFFCHAIN_LISTN"]
    );
}

#[test]
fn the_printed_configuration_names_each_source_and_reads_back_the_same() {
    let (_dir, path) = file("data_dir = \"/srv/a \\\"quoted\\\" dir\"\n[log]\nformat = \"text\"\n");
    let overrides = Overrides {
        listen: Some(addr("127.0.0.1:7300")),
        ..with_file(&path)
    };
    let loaded = loaded(
        &overrides,
        vec![("OFFCHAIN_LOG__LEVEL", "server=debug,info")],
    );
    let toml = loaded.to_toml();
    assert!(
        toml.contains("listen = \"127.0.0.1:7300\"  # from --listen\n"),
        "{toml}"
    );
    assert!(
        toml.contains(&format!(
            "data_dir = \"/srv/a \\\"quoted\\\" dir\"  # from file {}\n",
            path.display()
        )),
        "{toml}"
    );
    assert!(
        toml.contains("durability = \"full\"  # default\n"),
        "{toml}"
    );
    assert!(
        toml.contains("\n[log]\nlevel = \"server=debug,info\"  # from OFFCHAIN_LOG__LEVEL\n"),
        "{toml}"
    );

    assert!(
        toml.contains("\n[tlog]\n# signing_key is unset: <data_dir>/log-signing.key"),
        "{toml}"
    );
    assert!(
        toml.contains("checkpoint_interval_ms = 200  # default\n"),
        "{toml}"
    );

    let (_dir2, printed) = file(&toml);
    let again = self::loaded(&with_file(&printed), vec![]);
    assert_eq!(again.settings(), loaded.settings());
}

#[test]
fn a_set_tlog_origin_and_key_are_printed_and_read_back() {
    let overrides = Overrides {
        tlog_signing_key: Some(PathBuf::from("/keys/log.key")),
        tlog_origin: Some("example.com/log".to_owned()),
        tlog_signer_state: Some(PathBuf::from("/state/log.state")),
        tlog_checkpoint_interval_ms: Some(25),
        ..Overrides::default()
    };
    let loaded = loaded(&overrides, vec![]);
    let toml = loaded.to_toml();
    assert!(
        toml.contains("signing_key = \"/keys/log.key\"  # from --tlog-signing-key\n"),
        "{toml}"
    );
    assert!(
        toml.contains("origin = \"example.com/log\"  # from --tlog-origin\n"),
        "{toml}"
    );
    let (_dir, printed) = file(&toml);
    let again = self::loaded(&with_file(&printed), vec![]);
    assert_eq!(again.settings(), loaded.settings());
    let config = loaded.settings().to_config();
    assert_eq!(
        config.tlog.signing_key,
        Some(PathBuf::from("/keys/log.key"))
    );
    assert_eq!(config.tlog.origin.as_deref(), Some("example.com/log"));
    assert!(
        toml.contains("signer_state = \"/state/log.state\"  # from --tlog-signer-state\n"),
        "{toml}"
    );
    assert_eq!(
        config.tlog.signer_state,
        Some(PathBuf::from("/state/log.state"))
    );
    assert_eq!(
        config.tlog.sequencer.checkpoint_interval,
        std::time::Duration::from_millis(25)
    );
}

#[test]
fn a_schema_size_cap_below_one_kib_is_refused_naming_the_setting() {
    let message = refused(
        &Overrides::default(),
        vec![("OFFCHAIN_MAX_SCHEMA_BYTES", "1023")],
    );
    assert!(message.contains("OFFCHAIN_MAX_SCHEMA_BYTES"), "{message}");
    assert!(message.contains("at least 1024"), "{message}");
    let flag = Overrides {
        max_schema_bytes: Some(10),
        ..Overrides::default()
    };
    assert!(refused(&flag, vec![]).contains("--max-schema-bytes"));
}

#[test]
fn bad_tlog_values_are_refused_naming_the_setting() {
    for (env, setting) in [
        (
            ("OFFCHAIN_TLOG__ORIGIN", "has space"),
            "OFFCHAIN_TLOG__ORIGIN",
        ),
        (("OFFCHAIN_TLOG__ORIGIN", "a+b"), "OFFCHAIN_TLOG__ORIGIN"),
        (
            ("OFFCHAIN_TLOG__CHECKPOINT_INTERVAL_MS", "0"),
            "OFFCHAIN_TLOG__CHECKPOINT_INTERVAL_MS",
        ),
        (
            ("OFFCHAIN_TLOG__CHECKPOINT_INTERVAL_MS", "60001"),
            "OFFCHAIN_TLOG__CHECKPOINT_INTERVAL_MS",
        ),
        (
            ("OFFCHAIN_TLOG__SIGNING_KEY", ""),
            "OFFCHAIN_TLOG__SIGNING_KEY",
        ),
        (
            ("OFFCHAIN_TLOG__SIGNER_STATE", ""),
            "OFFCHAIN_TLOG__SIGNER_STATE",
        ),
    ] {
        let message = refused(&Overrides::default(), vec![env]);
        assert!(message.contains(setting), "{env:?}: {message}");
    }
}

#[test]
fn settings_become_the_server_configuration() {
    let settings = Settings {
        durability: DurabilityMode::Normal,
        serving: ServingMode::Shared,
        request_timeout_secs: 3,
        shutdown_timeout_secs: 4,
        header_read_timeout_secs: 2,
        keep_alive_timeout_secs: 9,
        max_connections: 12,
        ..Settings::default()
    };
    let config = settings.to_config();
    assert_eq!(
        config.connections,
        crate::connection_limits::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(2),
            keep_alive_timeout: std::time::Duration::from_secs(9),
            max_connections: 12,
        }
    );
    assert_eq!(config.listen, addr("127.0.0.1:8080"));
    assert_eq!(config.data_dir, PathBuf::from("./data"));
    assert_eq!(config.durability, infra::embedded::Durability::Normal);
    assert_eq!(config.serving, crate::serving::Serving::Shared);
    assert_eq!(config.request_timeout, std::time::Duration::from_secs(3));
    assert_eq!(config.shutdown_timeout, std::time::Duration::from_secs(4));
}

#[test]
fn the_mongo_store_is_named_in_every_layer_and_needs_its_uri_and_a_configured_key() {
    let (_dir, path) = file(
        "store = \"mongodb\"\n[mongo]\nuri = \"mongodb://db/?replicaSet=rs0\"\n\
         [tlog]\nsigning_key = \"/keys/log.key\"\n",
    );
    let from_file = loaded(&with_file(&path), vec![]);
    assert_eq!(
        from_file.settings().store,
        StoreMode::Mongo,
        "`mongodb` is an alias"
    );
    let config = from_file.settings().to_config();
    let Store::Mongo(mongo) = &config.store else {
        panic!("not the mongo store: {:?}", config.store);
    };
    assert_eq!(mongo.uri.expose(), "mongodb://db/?replicaSet=rs0");
    assert_eq!(mongo.database, settings::DEFAULT_MONGO_DATABASE);
    assert_eq!(
        config.tlog.sequencer.batch_size,
        infra::mongo::MAX_LOG_BATCH,
        "a log batch fits MongoDB's transaction limits"
    );

    let key = [("OFFCHAIN_TLOG__SIGNING_KEY", "/keys/log.key")];
    for (env, key_name, needle) in [
        (
            vec![("OFFCHAIN_STORE", "mongo")],
            "`mongo.uri`",
            "is required",
        ),
        (
            vec![
                ("OFFCHAIN_STORE", "mongo"),
                ("OFFCHAIN_MONGO__URI", "db:27017"),
            ],
            "`mongo.uri`",
            "must start with `mongodb://`",
        ),
        (
            vec![
                ("OFFCHAIN_STORE", "mongo"),
                ("OFFCHAIN_MONGO__URI", "mongodb://db/"),
                ("OFFCHAIN_MONGO__DATABASE", "a.b"),
            ],
            "`mongo.database`",
            "not a MongoDB database name",
        ),
        (
            vec![
                ("OFFCHAIN_STORE", "mongo"),
                ("OFFCHAIN_MONGO__URI", "mongodb://db/"),
                ("OFFCHAIN_MAX_DOCUMENT_BYTES", "8388608"),
            ],
            "`max_document_bytes`",
            "16 MiB",
        ),
    ] {
        let mut env = env;
        env.extend(key);
        let message = refused(&Overrides::default(), env);
        assert!(message.contains(key_name), "{message}");
        assert!(message.contains(needle), "{message}");
    }
    let message = refused(
        &Overrides {
            store: Some(StoreMode::Mongo),
            mongo_uri: Some("mongodb://db/".to_owned()),
            ..Overrides::default()
        },
        vec![],
    );
    assert!(message.contains("`tlog.signing_key`"), "{message}");
    assert!(message.contains("cannot be generated"), "{message}");
    // The embedded store's limits are not MongoDB's.
    let embedded = loaded(
        &Overrides::default(),
        vec![("OFFCHAIN_MAX_DOCUMENT_BYTES", "8388608")],
    );
    assert_eq!(embedded.settings().max_document_bytes, 8 << 20);

    // Any other name is refused, naming the stores there are.
    let message = refused(&Overrides::default(), vec![("OFFCHAIN_STORE", "redis")]);
    assert!(message.contains("`store`"), "{message}");
    assert!(
        message.contains("expected `embedded` or `mongo`, got"),
        "{message}"
    );
}

#[test]
fn a_mongo_password_never_shows_in_the_printed_configuration() {
    let loaded = loaded(
        &Overrides {
            mongo_uri: Some("mongodb://app:hunter2@db/?replicaSet=rs0".to_owned()),
            ..Overrides::default()
        },
        vec![],
    );
    let toml = loaded.to_toml();
    assert!(!toml.contains("hunter2"), "{toml}");
    assert!(
        toml.contains("uri = \"mongodb://app:****@db/?replicaSet=rs0\"  # from --mongo-uri"),
        "{toml}"
    );
    assert!(!format!("{:?}", loaded.settings().to_config()).contains("hunter2"));
}
