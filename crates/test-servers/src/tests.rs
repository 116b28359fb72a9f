//! The harness's own tests: names, the choice of server, the stand-in's start and its end with
//! the test process.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::docker_probe::answers_at;
use super::stand_in::{self, with_direct_connection};
use super::{BIN_VAR, MongoKind, MongoServer, URI_VAR, env_value, mongo, note, workspace_root};

/// Set in the child process of `the_stand_in_stops_when_its_test_process_ends`.
const CHILD_VAR: &str = "TEST_SERVERS_CHILD_PRINTS_ADDRESS";

fn unstarted(kind: MongoKind) -> MongoServer {
    MongoServer {
        uri: "mongodb://127.0.0.1:1/".to_owned(),
        kind,
        _keep: None,
    }
}

#[test]
fn database_names_are_unique_across_threads_and_fit_mongodb() {
    let server = unstarted(MongoKind::Configured);
    let prefix = "p".repeat(32);
    let names: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..250)
                        .map(|_| server.database_name(&prefix))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a naming thread panicked"))
            .collect()
    });
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), 1000, "a name was handed out twice");
    for name in &names {
        // MongoDB's limit is 63 bytes; none of its forbidden characters (`/\. "$*<>:|?`).
        assert!(name.len() <= 63, "{name} is too long for MongoDB");
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{name} holds a character MongoDB may refuse"
        );
        assert!(name.starts_with(&format!("{prefix}_{}_", std::process::id())));
    }
}

#[test]
#[should_panic(expected = "must be 1 to 32 ASCII letters")]
fn a_prefix_mongodb_would_refuse_is_refused_at_once() {
    let _ = unstarted(MongoKind::StandIn).database_name("my.db");
}

#[test]
fn the_printed_uri_gets_direct_connection() {
    for (printed, expected) in [
        (
            "mongodb://127.0.0.1:41234/test",
            "mongodb://127.0.0.1:41234/test?directConnection=true",
        ),
        (
            "mongodb://127.0.0.1:41234",
            "mongodb://127.0.0.1:41234/?directConnection=true",
        ),
        (
            "mongodb://127.0.0.1:41234/test?w=majority",
            "mongodb://127.0.0.1:41234/test?w=majority&directConnection=true",
        ),
    ] {
        assert_eq!(with_direct_connection(printed), expected);
    }
}

#[test]
fn only_the_stand_in_says_it_lacks_real_mongodb() {
    assert!(!MongoKind::Configured.lacks_real_mongo_behaviour("(never shown)"));
    assert!(!MongoKind::Docker.lacks_real_mongo_behaviour("(never shown)"));
    assert!(
        MongoKind::StandIn.lacks_real_mongo_behaviour(
            "(this line is the harness testing its own note, not a gap)"
        )
    );
}

#[test]
fn a_missing_stand_in_is_an_error_that_says_what_to_do() {
    let wrong = stand_in::binary(Some("/nonexistent/jongodb".into()), None)
        .expect_err("a BIN that does not exist was accepted");
    assert!(
        wrong.contains(BIN_VAR) && wrong.contains("/nonexistent/jongodb"),
        "{wrong}"
    );

    let empty = scratch_dir("empty-root");
    let missing =
        stand_in::binary(None, Some(empty.clone())).expect_err("a missing install was accepted");
    for needed in [
        "scripts/mongo-standin.sh",
        BIN_VAR,
        URI_VAR,
        stand_in::INSTALLED,
    ] {
        assert!(
            missing.contains(needed),
            "{missing:?} does not name {needed}"
        );
    }
    std::fs::remove_dir_all(empty).expect("cannot remove the scratch folder");
}

#[test]
fn a_server_that_exits_at_once_is_reported_with_its_stderr() {
    let dir = scratch_dir("exits");
    let fake = script(
        &dir,
        "echo 'JONGODB_START_FAILURE=failed to allocate TCP server socket' >&2\nexit 1\n",
    );
    let Err(why) = stand_in::start(&fake, Duration::from_secs(20)) else {
        panic!("a server that exits at once was taken as started");
    };
    assert!(why.contains("exited before printing JONGODB_URI="), "{why}");
    assert!(
        why.contains("JONGODB_START_FAILURE=failed to allocate"),
        "{why}"
    );
    std::fs::remove_dir_all(dir).expect("cannot remove the scratch folder");
}

#[test]
fn a_server_that_never_says_it_is_ready_is_given_up_and_stopped() {
    let dir = scratch_dir("silent");
    let pid_file = dir.join("pid");
    let fake = script(
        &dir,
        &format!("echo $$ > '{}'\nexec sleep 60\n", pid_file.display()),
    );
    let Err(why) = stand_in::start(&fake, Duration::from_millis(500)) else {
        panic!("a server that printed nothing was taken as started");
    };
    assert!(why.contains("did not print JONGODB_URI= within"), "{why}");
    let pid = std::fs::read_to_string(&pid_file).expect("the fake server wrote no pid");
    // Gone, or a zombie its parent has not reaped yet.
    let stat = PathBuf::from(format!("/proc/{}/stat", pid.trim()));
    let stopped = || {
        std::fs::read_to_string(&stat).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
    };
    assert!(
        eventually(stopped),
        "the fake server (pid {}) still runs after start gave it up",
        pid.trim()
    );
    std::fs::remove_dir_all(dir).expect("cannot remove the scratch folder");
}

#[test]
fn the_stand_in_answers_hello_on_its_port() {
    let Some(binary) = stand_in_binary() else {
        return;
    };
    let stand_in =
        stand_in::start(&binary, stand_in::READY_TIMEOUT).unwrap_or_else(|why| panic!("{why}"));
    let address = address_of(&stand_in.uri);
    assert_answers_hello(address);
    if env_value(CHILD_VAR).is_some() {
        // The parent test watches what happens to this server when this process ends: its
        // hold on the server is left to the process's end, not to a drop.
        println!("stand-in-address={address}");
        std::mem::forget(stand_in);
    }
}

#[test]
fn the_stand_in_stops_when_its_test_process_ends() {
    if stand_in_binary().is_none() {
        return;
    }
    let exe = std::env::current_exe().expect("no path to this test binary");
    let child = Command::new(exe)
        .args([
            "--exact",
            "tests::the_stand_in_answers_hello_on_its_port",
            "--nocapture",
        ])
        .env(CHILD_VAR, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot run this test binary again");
    let output = child
        .wait_with_output()
        .expect("the child test process was lost");
    assert!(
        output.status.success(),
        "the child test failed: {}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let address: SocketAddr = BufReader::new(stdout.as_bytes())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("stand-in-address=").map(str::to_owned))
        .unwrap_or_else(|| panic!("the child printed no address:\n{stdout}"))
        .parse()
        .expect("the child printed an address that does not parse");
    assert!(
        eventually(|| TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err()),
        "the stand-in at {address} still accepts connections after its test process ended"
    );
}

#[test]
fn a_docker_daemon_is_taken_as_answering_only_when_it_answers_its_ping() {
    let dir = scratch_dir("docker");
    let socket = dir.join("docker.sock");
    let host = |path: &Path| Some(format!("unix://{}", path.display()).into());

    let daemon = fake_daemon(&socket, "HTTP/1.1 200 OK");
    assert!(
        answers_at(host(&socket), None, None),
        "a daemon answering 200 was not seen"
    );
    daemon.join().expect("the fake daemon panicked");
    let daemon = fake_daemon(&socket, "HTTP/1.1 500 Internal Server Error");
    assert!(
        !answers_at(host(&socket), None, None),
        "a daemon answering 500 was taken"
    );
    daemon.join().expect("the fake daemon panicked");
    assert!(
        !answers_at(host(&dir.join("none.sock")), None, None),
        "no socket was taken"
    );
    assert!(!answers_at(Some("ssh://docker.example".into()), None, None));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("no loopback port");
    let tcp = format!("tcp://{}", listener.local_addr().expect("no address"));
    assert!(
        answers_at(Some(tcp.clone().into()), None, None),
        "{tcp} was not seen"
    );

    // Without DOCKER_HOST: the rootless socket under the runtime folder, unless this machine has
    // the default socket, which comes first.
    if Path::new("/var/run/docker.sock").exists() {
        note("note: the default-socket case is not checked: this machine has /var/run/docker.sock");
    } else {
        let rootless = dir.join(".docker/run/docker.sock");
        std::fs::create_dir_all(dir.join(".docker/run")).expect("cannot create the folder");
        let daemon = fake_daemon(&rootless, "HTTP/1.1 200 OK");
        assert!(
            answers_at(None, Some(dir.clone()), None),
            "the rootless socket was not found"
        );
        daemon.join().expect("the fake daemon panicked");
        assert!(
            !answers_at(None, None, None),
            "a daemon was seen where there is none"
        );
    }
    std::fs::remove_dir_all(dir).expect("cannot remove the scratch folder");
}

#[test]
fn mongo_is_started_once_and_shared() {
    let first = mongo();
    assert!(std::ptr::eq(first, mongo()), "a second server was started");
    let configured = env_value(URI_VAR).is_some();
    assert_eq!(first.kind == MongoKind::Configured, configured, "{first:?}");
    match first.kind {
        MongoKind::StandIn | MongoKind::Docker => {
            assert!(first.uri.contains("directConnection=true"), "{}", first.uri);
            assert_answers_hello(address_of(&first.uri));
        }
        // Its address may need TLS or name several hosts: the driver's tests reach it.
        MongoKind::Configured => {}
    }
}

/// The stand-in's binary; `None`, with a note, only when a MongoDB server is configured instead
/// (the stand-in is not installed then, and these tests check the stand-in itself).
fn stand_in_binary() -> Option<PathBuf> {
    match stand_in::binary(env_value(BIN_VAR), workspace_root()) {
        Ok(binary) => Some(binary),
        Err(why) if env_value(URI_VAR).is_some() => {
            note(&format!(
                "note: {}: not checked, since {URI_VAR} is set and {why}",
                std::thread::current()
                    .name()
                    .unwrap_or("a test-servers test")
            ));
            None
        }
        Err(why) => panic!("{why}"),
    }
}

/// `host:port` of a `mongodb://host:port/...` URI naming one host.
fn address_of(uri: &str) -> SocketAddr {
    let rest = uri
        .strip_prefix("mongodb://")
        .expect("not a mongodb:// URI");
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .parse()
        .unwrap_or_else(|error| panic!("{authority} in {uri} is not host:port: {error}"))
}

/// Sends `hello` in an `OP_MSG` and checks the reply says `ok: 1`: the server speaks MongoDB's
/// wire protocol, not only TCP.
fn assert_answers_hello(address: SocketAddr) {
    // BSON {hello: 1, $db: "admin"}.
    let mut document = vec![0x10];
    document.extend(b"hello\0");
    document.extend(1_i32.to_le_bytes());
    document.push(0x02);
    document.extend(b"$db\0");
    document.extend(6_i32.to_le_bytes());
    document.extend(b"admin\0");
    document.push(0);
    let document_length = i32::try_from(document.len() + 4).expect("a small document");
    let mut body = 0_u32.to_le_bytes().to_vec(); // flag bits
    body.push(0); // section kind 0: the command document
    body.extend(document_length.to_le_bytes());
    body.extend(document);
    let message_length = i32::try_from(body.len() + 16).expect("a small message");
    let mut message = Vec::new();
    for field in [message_length, 1, 0, 2013] {
        // length, request id, response to, opCode OP_MSG
        message.extend(field.to_le_bytes());
    }
    message.extend(body);

    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .unwrap_or_else(|error| panic!("nothing accepts connections at {address}: {error}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("cannot set a read timeout");
    stream.write_all(&message).expect("cannot send hello");
    let mut header = [0_u8; 16];
    stream.read_exact(&mut header).expect("no reply to hello");
    let field = |at: usize| {
        i32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    assert_eq!(field(12), 2013, "the reply to hello is not an OP_MSG");
    let length = usize::try_from(field(0)).expect("a negative reply length");
    let mut reply = vec![0_u8; length.saturating_sub(16)];
    stream
        .read_exact(&mut reply)
        .expect("the reply to hello is cut short");
    // `ok` as the double 1.0, as MongoDB answers it.
    let mut ok = b"\x01ok\0".to_vec();
    ok.extend(1.0_f64.to_le_bytes());
    assert!(
        reply
            .windows(ok.len())
            .any(|window| window == ok.as_slice()),
        "the reply to hello does not say ok: 1: {reply:?}"
    );
}

/// A Docker daemon at `socket` that answers one request with `status` and exits.
fn fake_daemon(socket: &Path, status: &'static str) -> std::thread::JoinHandle<()> {
    let _ = std::fs::remove_file(socket);
    let listener = std::os::unix::net::UnixListener::bind(socket).expect("cannot bind the socket");
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("no connection to the fake daemon");
        let mut request = BufReader::new(&stream);
        let mut line = String::new();
        while request.read_line(&mut line).is_ok_and(|read| read > 0) && line != "\r\n" {
            line.clear();
        }
        (&stream)
            .write_all(format!("{status}\r\nContent-Length: 2\r\n\r\nOK").as_bytes())
            .expect("cannot answer");
    })
}

/// A fresh folder of this test's own under the system's temporary folder.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("test-servers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cannot create a scratch folder");
    dir
}

/// An executable shell script in `dir`. Written by a child `sh`, so that this process never
/// holds the file open for writing: a thread of this process forking at that moment would carry
/// the open file into its child, and executing the script would then fail with "text file busy".
fn script(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("fake-jongodb");
    let mut writer = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(&path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("cannot run sh to write a script");
    writer
        .stdin
        .take()
        .expect("no stdin")
        .write_all(format!("#!/bin/sh\n{body}").as_bytes())
        .expect("cannot write the script");
    assert!(
        writer.wait().expect("sh was lost").success(),
        "sh could not write the script"
    );
    path
}

/// Whether `condition` holds within 10 s.
fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}
