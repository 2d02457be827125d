//! Shared by the plugin host's tests and benchmark: builds the test plugins under
//! testkit/plugins/ as real cdylibs, installs copies into private folders, and runs a tiny
//! loopback HTTP server for the plugins' host-lent HTTP calls.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

/// Every test plugin crate (package names `keyhelm-testplugin-<variant>`).
pub const VARIANTS: &[&str] = &[
    "good",
    "panics",
    "noisy",
    "badmajor",
    "shorttable",
    "noentry",
    "badjson",
    "huge",
    "nulltable",
    "nofns",
    "badname",
];

/// Builds every test plugin once per test binary (in `profile`), through `$CARGO build
/// --message-format=json`, and returns the cdylib path of each variant.
pub fn built(profile: &str) -> &'static HashMap<String, PathBuf> {
    static DEV: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    static RELEASE: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let cell = if profile == "release" { &RELEASE } else { &DEV };
    cell.get_or_init(|| build(profile))
}

fn build(profile: &str) -> HashMap<String, PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--message-format=json", "--profile", profile]);
    for v in VARIANTS {
        cmd.args(["-p", &format!("keyhelm-testplugin-{v}")]);
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit());
    let out = cmd.output().expect("run cargo build for the test plugins");
    assert!(out.status.success(), "building the test plugins failed");
    let mut found = HashMap::new();
    for line in out.stdout.split(|&b| b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        let Some(pkg) = msg["target"]["name"].as_str() else {
            continue;
        };
        let Some(variant) = pkg.strip_prefix("keyhelm_") else {
            continue;
        };
        if !is_cdylib {
            continue;
        }
        let file = msg["filenames"]
            .as_array()
            .and_then(|f| {
                f.iter()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(".so") || f.ends_with(".dylib"))
            })
            .expect("a cdylib artifact");
        found.insert(variant.to_owned(), PathBuf::from(file));
    }
    for v in VARIANTS {
        assert!(found.contains_key(*v), "cargo reported no artifact for {v}");
    }
    found
}

/// A fresh folder (0700) under the system temp folder.
pub fn private_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// Copies test plugin `variant` into `dir` under the file name of provider `name`, mode
/// 0644, and returns its path.
pub fn install(variant: &str, name: &str, dir: &Path) -> PathBuf {
    install_from("dev", variant, name, dir)
}

/// Like [`install`], from a given build profile.
pub fn install_from(profile: &str, variant: &str, name: &str, dir: &Path) -> PathBuf {
    let src = &built(profile)[variant];
    let dst = dir.join(keyhelm::plugin::plugin_file_name(name));
    std::fs::copy(src, &dst).expect("copy plugin");
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o644)).unwrap();
    dst
}

/// A request the fake server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that plays a token service:
/// `POST /token` answers a token when the form carries `client_secret=s33d` (else 401),
/// `POST /revoke` answers 200, `POST /limited` answers 429 with `Retry-After: 7`,
/// `POST /big` answers a 5 MiB body. It records every request.
pub struct FakeService {
    pub base_url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeService {
    pub fn start() -> FakeService {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &log);
                });
            }
        });
        FakeService { base_url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
            if k == "content-length" {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    log.lock().unwrap().push(Seen {
        method,
        path: path.clone(),
        headers,
        body: body.clone(),
    });

    let (status, extra, payload): (&str, &str, Vec<u8>) = match path.as_str() {
        "/token" if body.contains("client_secret=s33d") => (
            "200 OK",
            "Content-Type: application/json\r\n",
            br#"{"access_token":"tok-1","expires_in":3600,"scope":"repo read:org"}"#.to_vec(),
        ),
        "/token" => ("401 Unauthorized", "", b"{}".to_vec()),
        "/revoke" => ("200 OK", "", Vec::new()),
        "/limited" => ("429 Too Many Requests", "Retry-After: 7\r\n", Vec::new()),
        "/big" => ("200 OK", "", vec![b'x'; 5 << 20]),
        _ => ("404 Not Found", "", Vec::new()),
    };
    let mut w = conn;
    write!(
        w,
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    )?;
    w.write_all(&payload)?;
    w.flush()
}

/// Builds examples/keyhelm-hello (its own workspace, as a third party would) and returns
/// the cdylib.
pub fn built_example() -> &'static PathBuf {
    static HELLO: OnceLock<PathBuf> = OnceLock::new();
    HELLO.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/keyhelm-hello/Cargo.toml");
        let out = Command::new(cargo)
            .args(["build", "--message-format=json", "--manifest-path"])
            .arg(&manifest)
            .env_remove("CARGO_TARGET_DIR")
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build for examples/keyhelm-hello");
        assert!(
            out.status.success(),
            "building examples/keyhelm-hello failed"
        );
        out.stdout
            .split(|&b| b == b'\n')
            .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
            .filter(|m| {
                m["reason"] == "compiler-artifact" && m["target"]["name"] == "keyhelm_hello"
            })
            .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
            .filter_map(|f| f.as_str().map(PathBuf::from))
            .find(|f| f.extension().is_some_and(|e| e == "so" || e == "dylib"))
            .expect("the hello cdylib")
    })
}
