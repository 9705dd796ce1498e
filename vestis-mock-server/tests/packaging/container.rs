//! The container image: its statically linked binary, tested as it is (no
//! shared libraries, it serves, `--healthcheck` tells up from down), and the
//! `Containerfile` built with podman where podman is installed (`.ci/run`
//! installs it). The image is built and inspected but not run: in this
//! project's sandbox `podman run` fails before the program starts (crun
//! cannot `setrlimit`, "OCI permission denied"), while the binary it would
//! run is tested right here.
//!
//! The static binary is built by `.ci/run` (and by hand) with
//! `RUSTFLAGS='-C target-feature=+crt-static' cargo build --target
//! x86_64-unknown-linux-gnu -p vestis-mock-server` (`--release` for the
//! image you ship); `VESTIS_STATIC_BINARY` points at another one. Without
//! any, or without podman, these tests say so on stderr and pass.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::repo;

/// The static binary to test: `VESTIS_STATIC_BINARY`, else the newest build.
fn static_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VESTIS_STATIC_BINARY") {
        return Some(PathBuf::from(path));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    ["release", "debug"]
        .iter()
        .map(|profile| target.join("x86_64-unknown-linux-gnu").join(profile).join("vestis-mock-server"))
        .filter(|path| path.exists())
        .max_by_key(|path| path.metadata().and_then(|m| m.modified()).ok())
        .or_else(|| {
            eprintln!(
                "skipped: no static binary; build it with RUSTFLAGS='-C target-feature=+crt-static' \
                 cargo build --target x86_64-unknown-linux-gnu -p vestis-mock-server"
            );
            None
        })
}

/// Starts `binary --port 0`; the child and its port, read from the ready line.
fn start(binary: &PathBuf) -> (Child, u16) {
    let mut child = Command::new(binary)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim_end()
        .strip_prefix("vestis-mock-server listening on http://127.0.0.1:")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, port)
}

/// `binary --healthcheck --port PORT`: its exit code and stderr.
fn healthcheck(binary: &PathBuf, port: u16) -> (Option<i32>, String) {
    let out = Command::new(binary)
        .args(["--healthcheck", "--port", &port.to_string()])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_static_binary_needs_no_shared_library_serves_and_checks_its_health() {
    let Some(binary) = static_binary() else {
        return;
    };
    let ldd = Command::new("ldd").arg(&binary).output().unwrap();
    let said = String::from_utf8_lossy(&ldd.stdout) + String::from_utf8_lossy(&ldd.stderr);
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "{} is dynamically linked:\n{said}",
        binary.display()
    );

    let (child, port) = start(&binary);
    assert_eq!(healthcheck(&binary, port), (Some(0), String::new()));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(kill.unwrap().success());
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    let (code, stderr) = healthcheck(&binary, port);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("vestis-mock-server: unhealthy: http://127.0.0.1:"),
        "{stderr}"
    );
}

#[test]
fn the_containerfile_builds_an_image_with_its_health_check() {
    if Command::new("podman").arg("--version").output().is_err() {
        eprintln!("skipped: podman is not installed (apt-get install podman)");
        return;
    }
    let Some(binary) = static_binary() else {
        return;
    };
    // The context holds the binary alone, where the Containerfile's BINARY argument says.
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(&binary, context.path().join("vestis-mock-server")).unwrap();
    let tag = format!("localhost/vestis-mock-server-test:{}", std::process::id());
    let build = Command::new("podman")
        .args([
            "build",
            "--format",
            "docker",
            "--build-arg",
            "BINARY=vestis-mock-server",
            "-t",
            &tag,
            "-f",
        ])
        .arg(repo().join("Containerfile"))
        .arg(context.path())
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "podman build failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let inspect = Command::new("podman")
        .args(["image", "inspect", &tag])
        .output()
        .unwrap();
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
    let image: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap_or_else(|e| {
        panic!(
            "podman image inspect: {e}: {}",
            String::from_utf8_lossy(&inspect.stderr)
        )
    });
    let check = &image[0]["Healthcheck"]["Test"];
    assert_eq!(
        check,
        &serde_json::json!(["CMD", "/vestis-mock-server", "--healthcheck"])
    );
    let config = &image[0]["Config"];
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/vestis-mock-server"])
    );
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        env.contains(&"VESTIS_MOCK_HOST=0.0.0.0") && env.contains(&"VESTIS_MOCK_PORT=4000"),
        "{env:?}"
    );
    assert!(config["ExposedPorts"].get("4000/tcp").is_some(), "{config}");
}
