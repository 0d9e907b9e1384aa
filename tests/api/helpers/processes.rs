//! The real binary in processes of its own: commands and servers, stopped
//! by signals.

use super::*;

/// The binary with a clean environment, a database, and a working directory
/// without `.env`.
pub fn sms_router(db_path: &Path) -> std::process::Command {
    sms_router_under(&[], db_path)
}

/// `sms_router`, run by a program that runs others (`strace …`, say).
pub fn sms_router_under(runner: &[&str], db_path: &Path) -> std::process::Command {
    let bin = env!("CARGO_BIN_EXE_sms-router");
    let mut command = match runner.split_first() {
        None => std::process::Command::new(bin),
        Some((program, args)) => {
            let mut command = std::process::Command::new(program);
            command.args(args).arg(bin);
            command
        }
    };
    for (key, _) in std::env::vars() {
        if key.starts_with("SMS_ROUTER_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env("SMS_ROUTER_DATABASE_PATH", db_path);
    command.current_dir(db_path.parent().unwrap());
    command
}

/// The real binary serving on a free loopback port, its log in a file.
pub struct RunningServer {
    pub child: std::process::Child,
    pub bind: String,
    log: PathBuf,
}

impl RunningServer {
    /// Starts `sms-router <args>` with `envs` and waits until it listens.
    pub fn start(db: &Path, envs: &[(&str, &str)], args: &[&str]) -> Self {
        Self::start_under(&[], db, envs, args)
    }

    /// `start`, run by `runner` (see `sms_router_under`).
    pub fn start_under(runner: &[&str], db: &Path, envs: &[(&str, &str)], args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bind = format!("127.0.0.1:{port}");
        let log = db.with_extension(format!("{port}.log"));
        let mut command = sms_router_under(runner, db);
        // A group of its own: stopping it stops a runner's child too (a
        // process traced by a killed strace would run on, detached).
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .env("SMS_ROUTER_BIND", &bind)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut server = RunningServer {
            child: command.spawn().unwrap(),
            bind,
            log,
        };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(&server.bind).is_err() {
            let exited = server.child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() > crate::wait::PATIENCE {
                panic!("the server did not start ({exited:?}): {}", server.stop());
            }
            std::thread::sleep(crate::wait::LOOK_EVERY);
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.bind)
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) to the server.
    pub fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the server to exit; answers its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Option<i32>> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code());
            }
            std::thread::sleep(crate::wait::LOOK_EVERY);
        }
        None
    }

    /// The log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server as an operator would (SIGTERM: it finishes and
    /// writes out its log, which it writes in batches), killing what is left
    /// of its group after `PATIENCE`; answers its log.
    pub fn stop(mut self) -> String {
        self.signal_group(libc::SIGTERM);
        self.wait_exit(crate::wait::PATIENCE);
        self.kill_group();
        let _ = self.child.wait();
        self.logs()
    }

    /// `signal` to every process of the server's group.
    fn signal_group(&self, signal: libc::c_int) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling a process group we created; no memory involved.
            unsafe { libc::kill(-pid, signal) };
        }
    }

    /// SIGKILL to every process of the server's group.
    fn kill_group(&mut self) {
        self.signal_group(libc::SIGKILL);
        let _ = self.child.kill();
    }
}

impl Drop for RunningServer {
    /// A test that fails midway leaves no server running.
    fn drop(&mut self) {
        // The group, even when the runner has exited: its child may not have.
        self.kill_group();
        let _ = self.child.wait();
    }
}

/// Adds a user with this number through the command line, as a newcomer would.
pub fn add_user_with_cli(db: &std::path::Path, phone: &str) {
    let added = sms_router(db)
        .args(["user", "add", "--phone", phone, "--name", "Ada"])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
}

/// Raises this process's soft limit on open files to its hard limit: tests
/// that open a thousand connections need more than the usual 1024.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
