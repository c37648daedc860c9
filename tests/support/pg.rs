//! A real, throw-away PostgreSQL server for tests (Debian's `postgresql` package, installed by
//! `.ci/run`): `initdb` into a temp dir, `postgres` on a free loopback port, stopped on drop.
//! When the tests run as root (as in CI) the server runs as the `postgres` system user.

use std::{
    os::unix::{fs::chown, process::CommandExt},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sqlx::{Connection, Executor, postgres::PgConnection};

pub struct PgCluster {
    _dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop().expect("no /usr/lib/postgresql/*/bin/initdb")
}

fn ids_of(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&user)).then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

fn as_server_user(cmd: &mut Command, owner: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl PgCluster {
    /// Superuser `postgres` (trust on loopback); other roles authenticate with scram-sha-256.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let owner = if is_root() {
            Some(ids_of("postgres").expect("system user postgres (from the postgresql package)"))
        } else {
            None
        };
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir(&sock).expect("socket dir");
        if let Some((uid, gid)) = owner {
            chown(dir.path(), Some(uid), Some(gid)).expect("chown");
            chown(&sock, Some(uid), Some(gid)).expect("chown");
        }
        let bin = bin_dir();
        let out = as_server_user(
            Command::new(bin.join("initdb"))
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                ])
                .arg("-D")
                .arg(&data),
            owner,
        )
        .output()
        .expect("run initdb");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let hba =
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
        std::fs::write(data.join("pg_hba.conf"), hba).expect("pg_hba.conf");
        if let Some((uid, gid)) = owner {
            chown(data.join("pg_hba.conf"), Some(uid), Some(gid)).expect("chown");
        }
        let port = free_port();
        let child = as_server_user(
            Command::new(bin.join("postgres"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-p",
                    &port.to_string(),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ])
                .arg("-k")
                .arg(&sock)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            owner,
        )
        .spawn()
        .expect("start postgres");
        let mut me = Self {
            _dir: dir,
            port,
            child: Some(child),
        };
        me.wait_ready().await;
        me
    }

    pub fn url(&self, user: &str, password: Option<&str>, db: &str) -> String {
        match password {
            Some(p) => format!("postgres://{user}:{p}@127.0.0.1:{}/{db}", self.port),
            None => format!("postgres://{user}@127.0.0.1:{}/{db}", self.port),
        }
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if PgConnection::connect(&self.url("postgres", None, "postgres"))
                .await
                .is_ok()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("postgres exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs SQL as the superuser.
    pub async fn exec(&self, sql: &str) {
        let mut c = PgConnection::connect(&self.url("postgres", None, "postgres"))
            .await
            .expect("connect as postgres");
        c.execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
