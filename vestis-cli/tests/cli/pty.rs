//! The real `vestis` binary on a pseudo-terminal, its output fed through a
//! terminal emulator (`vt100`): the screen a person would see, to assert on
//! while the command runs (frames) and after it exits (the final screen).

use std::io::Read;
use std::num::NonZeroU16;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;

use crate::util::Env;

/// How long any one wait on a terminal may take: a safety net for a hung
/// command on a loaded machine, never the thing a test measures.
const PATIENCE: Duration = Duration::from_secs(90);

/// The spinner's glyphs: none may be left on a final screen.
pub(crate) const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A terminal's size, and what `TERM` says it is.
#[derive(Clone, Copy)]
pub(crate) struct Terminal {
    pub(crate) rows: u16,
    pub(crate) columns: u16,
    pub(crate) term: &'static str,
}

impl Terminal {
    /// An xterm of `columns` × `rows`.
    pub(crate) fn xterm(columns: u16, rows: u16) -> Terminal {
        Terminal {
            rows,
            columns,
            term: "xterm-256color",
        }
    }
}

/// `vestis` running on a pseudo-terminal: every byte it writes (stdout and
/// stderr alike, as on a real terminal) is collected as it comes.
pub(crate) struct OnTerminal {
    child: Child,
    /// Reads a piped stdout to its end.
    piped: Option<std::thread::JoinHandle<String>>,
    /// The keyboard side: what is written here is typed on the terminal.
    keyboard: std::fs::File,
    bytes: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    size: Terminal,
    /// Each later size the window was given, and how many bytes had come
    /// before it: the emulator is resized at the same point.
    resized: Vec<(usize, Terminal)>,
}

/// Opens a pseudo-terminal of `size`: the controller, and the device path
/// of its terminal side.
fn open_pty(size: Terminal) -> (std::fs::File, std::fs::File) {
    let controller = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    rustix::pty::grantpt(&controller).unwrap();
    rustix::pty::unlockpt(&controller).unwrap();
    let name = rustix::pty::ptsname(&controller, Vec::new()).unwrap();
    let terminal = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY,
        Mode::empty(),
    )
    .unwrap();
    set_size(&controller, size);
    (controller.into(), terminal.into())
}

/// Gives the terminal of `controller` the size `size`. Linux sends the
/// terminal's foreground process group SIGWINCH when the size changes, as
/// a terminal emulator's window resize does.
fn set_size(controller: impl rustix::fd::AsFd, size: Terminal) {
    let winsize = Winsize {
        ws_row: size.rows,
        ws_col: size.columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(controller, winsize).unwrap();
}

impl OnTerminal {
    /// Starts `vestis ARGS` for `env`'s server and home on a new terminal.
    pub(crate) fn spawn(env: &Env, size: Terminal, args: &[&str]) -> OnTerminal {
        OnTerminal::start(env, size, args, false, &[])
    }

    /// The same with more environment variables.
    pub(crate) fn spawn_with(
        env: &Env,
        size: Terminal,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> OnTerminal {
        OnTerminal::start(env, size, args, false, vars)
    }

    /// The same with stdout a pipe (`vestis ... | jq`), stderr the terminal.
    /// The pipe is read to its end by [`OnTerminal::finish_piped`].
    pub(crate) fn spawn_piped(env: &Env, size: Terminal, args: &[&str]) -> OnTerminal {
        OnTerminal::start(env, size, args, true, &[])
    }

    /// The same with arguments that need not be UTF-8 (file names).
    pub(crate) fn spawn_os(env: &Env, size: Terminal, args: &[&std::ffi::OsStr]) -> OnTerminal {
        OnTerminal::start(env, size, args, false, &[])
    }

    fn start<A: AsRef<std::ffi::OsStr>>(
        env: &Env,
        size: Terminal,
        args: &[A],
        piped: bool,
        vars: &[(&str, &str)],
    ) -> OnTerminal {
        let (mut controller, terminal) = open_pty(size);
        // `setsid --ctty` (util-linux) makes the terminal the command's
        // controlling terminal, as a shell does: a typed Ctrl-C then
        // reaches it as SIGINT, and the terminal echoes `^C`.
        let mut command = Command::new("setsid");
        command
            .arg("--ctty")
            .arg(assert_cmd::cargo::cargo_bin("vestis"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("VESTIS_HOME", env.home.path())
            .env("VESTIS_API_URL", &env.api)
            .env("VESTIS_TOKEN", "me")
            .env("TERM", size.term)
            .envs(vars.iter().copied())
            .current_dir(env.home.path())
            .args(args)
            .stdin(Stdio::from(terminal.try_clone().unwrap()))
            .stdout(if piped {
                Stdio::piped()
            } else {
                Stdio::from(terminal.try_clone().unwrap())
            })
            .stderr(Stdio::from(terminal));
        // `command` holds the terminal side until dropped: drop it once the
        // child has it, so the controller reads end-of-file when it exits.
        let mut child = command.spawn().unwrap();
        drop(command);
        let piped = child.stdout.take().map(|mut stdout| {
            std::thread::spawn(move || {
                let mut text = String::new();
                stdout.read_to_string(&mut text).unwrap();
                text
            })
        });
        let keyboard = controller.try_clone().unwrap();
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bytes);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Linux answers EIO once every holder of the terminal side is gone.
            while let Ok(n @ 1..) = controller.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        OnTerminal {
            child,
            piped,
            keyboard,
            bytes,
            reader: Some(reader),
            size,
            resized: Vec::new(),
        }
    }

    /// Resizes the window to `size` while the command runs (as `tmux
    /// resize-window` does): what comes after is drawn at the new size.
    pub(crate) fn resize(&mut self, size: Terminal) {
        let offset = self.bytes.lock().unwrap().len();
        self.resized.push((offset, size));
        set_size(&self.keyboard, size);
    }

    /// The emulator after every byte so far, resized where the window was.
    fn emulated(&self, bytes: &[u8]) -> vt100::Parser {
        let or = |n: u16, default: u16| NonZeroU16::new(n).or(NonZeroU16::new(default));
        let size = self.size;
        let mut parser =
            vt100::Parser::new(or(size.rows, 24).unwrap(), or(size.columns, 80).unwrap(), 0);
        let mut done = 0;
        for &(offset, size) in &self.resized {
            let offset = offset.min(bytes.len());
            parser.process(&bytes[done..offset]);
            done = offset;
            parser.set_size(or(size.rows, 24).unwrap(), or(size.columns, 80).unwrap());
        }
        parser.process(&bytes[done..]);
        parser
    }

    /// The window's size now.
    fn now(&self) -> Terminal {
        self.resized.last().map_or(self.size, |&(_, size)| size)
    }

    /// Sends `bytes` as the terminal's own input (an answer to a query).
    pub(crate) fn answer(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.keyboard.write_all(bytes).unwrap();
    }

    /// Sends the command `signal` (`TERM`, `HUP`) with kill(1).
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// The terminal's settings now (those of its terminal side: Linux
    /// answers for it on the controller).
    pub(crate) fn settings(&self) -> rustix::termios::Termios {
        rustix::termios::tcgetattr(&self.keyboard).unwrap()
    }

    /// Types Ctrl-C on the terminal.
    pub(crate) fn press_ctrl_c(&mut self) {
        use std::io::Write;
        self.keyboard.write_all(b"\x03").unwrap();
    }

    /// Every byte written so far.
    pub(crate) fn raw(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    /// The screen as it is now: all bytes so far through the emulator.
    pub(crate) fn screen(&self) -> String {
        self.emulated(&self.raw()).screen().contents()
    }

    /// Waits until the screen satisfies `ready` (a state, not a time), and
    /// returns that frame. Panics with the screen after [`PATIENCE`].
    pub(crate) fn frame_where(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "no frame where {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the screen's rows satisfy `ready`, and returns them.
    pub(crate) fn rows_where(&self, what: &str, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
        let start = Instant::now();
        loop {
            let rows = self.rows_now();
            if ready(&rows) {
                return rows;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "no frame where {what}; the screen:\n{}",
                rows.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The screen's rows now, one string each (a wrapped line is two).
    pub(crate) fn rows_now(&self) -> Vec<String> {
        let columns = self.now().columns.max(1);
        let parser = self.emulated(&self.raw());
        parser.screen().rows(0, columns).collect()
    }

    /// Waits for the command to exit and for its last byte: its exit
    /// status and the final screen.
    pub(crate) fn finish(mut self) -> (ExitStatus, String) {
        let status = self.wait_exit();
        (status, self.screen())
    }

    /// The same, with the final screen's rows (a wrapped line is two).
    pub(crate) fn finish_rows(mut self) -> (ExitStatus, Vec<String>) {
        let status = self.wait_exit();
        (status, self.rows_now())
    }

    /// The same for [`OnTerminal::spawn_piped`]: the status, every byte on
    /// the terminal, and what went down the pipe.
    pub(crate) fn finish_piped(mut self) -> (ExitStatus, Vec<u8>, String) {
        let piped = self.piped.take();
        let (status, bytes) = self.finish_raw();
        let text = piped.map(|t| t.join().unwrap()).unwrap_or_default();
        (status, bytes, text)
    }

    /// [`OnTerminal::finish_raw`], and the terminal's settings after the
    /// command exited: what the shell gets back.
    pub(crate) fn finish_with_settings(self) -> (ExitStatus, Vec<u8>, rustix::termios::Termios) {
        let controller = self.keyboard.try_clone().unwrap();
        let (status, bytes) = self.finish_raw();
        (
            status,
            bytes,
            rustix::termios::tcgetattr(&controller).unwrap(),
        )
    }

    /// The same, with every byte it wrote instead of the screen.
    pub(crate) fn finish_raw(mut self) -> (ExitStatus, Vec<u8>) {
        let status = self.wait_exit();
        (status, self.raw())
    }

    /// Waits for the command to exit and for its last byte.
    fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("vestis did not exit; the screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        status
    }
}

impl Drop for OnTerminal {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a terminal of `size` shows after `bytes`: its rows, trailing
/// blanks trimmed, a line wrapped at the edge read back as one line. A
/// terminal that says no size is drawn as 80 × 24.
pub(crate) fn render(bytes: &[u8], size: Terminal) -> String {
    let or = |n: u16, default: u16| NonZeroU16::new(n).or(NonZeroU16::new(default));
    let rows = or(size.rows, 24).unwrap();
    let columns = or(size.columns, 80).unwrap();
    let mut parser = vt100::Parser::new(rows, columns, 0);
    parser.process(bytes);
    parser.screen().contents()
}

/// The rows a terminal of `size` shows after `bytes`, one string each
/// (a wrapped line is two rows here).
pub(crate) fn render_rows(bytes: &[u8], size: Terminal) -> Vec<String> {
    let or = |n: u16, default: u16| NonZeroU16::new(n).or(NonZeroU16::new(default));
    let mut parser =
        vt100::Parser::new(or(size.rows, 24).unwrap(), or(size.columns, 80).unwrap(), 0);
    parser.process(bytes);
    parser.screen().rows(0, size.columns.max(1)).collect()
}

/// How many lines of `screen` start with `prefix`.
pub(crate) fn count_lines(screen: &str, prefix: &str) -> usize {
    screen.lines().filter(|l| l.starts_with(prefix)).count()
}
