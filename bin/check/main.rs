//! The protocol checker:
//! `cargo run --bin check -- tracker HOST:PORT [options]` or
//! `cargo run --bin check -- peer HOST:PORT --file PATH [options]`.
//!
//! It plays the other side of the protocol against a tracker or a peer,
//! written in any language, and checks it rule by rule against the README's
//! protocol section: one line per rule, PASS or FAIL, and under each FAIL
//! the bytes that broke it and where our own programs keep the rule. The
//! rules come from the library's one list ([`p2p_share::wire::rules`]). A
//! rule whose prerequisite does not work (no HI, no accepted join) is not
//! judged, and says which rule to see. A student checks a half-written
//! program with `--stage N`, or one rule with `--rule NAME`; a teacher
//! grades a class with `--summary`, an autograder reads `--json`.
//!
//! The parts, in reading order: `probe.rs` (a raw connection with bounded,
//! time-limited reads, and the transcript), `rules/mod.rs` (what a rule is,
//! and how the rules run), `rules/tracker/` and `rules/peer/` (the rules,
//! and the simulated peers or requests that check them), `report.rs` (what
//! is printed: text, one summary line, or JSON).
//!
//! # Example: our own tracker with `--explain`
//!
//! A real run against our own tracker started with `--explain`, a teaching mode
//! that tells a refused peer why, where the core protocol says it gets no word.
//! It fails the five rules that say so (`hello-first`, `silent-before-join`,
//! `refuse-empty`, `refuse-six`, `refuse-malformed`); one of them (the evidence of the other four is left out):
//!
//! ```text
//! $ cargo run --bin check -- tracker 127.0.0.1:5000 --stage 1
//! checking the tracker at 127.0.0.1:5000 (stage 1; each probe waits at most 5.0 s)
//!
//! stage 1: join (HELLO, HI, the records line, refusals)
//! PASS  hello-hi           HELLO is answered HI, one line ending in \n  (1 ms)
//! PASS  line-framing       a message is one line ending in \n (a \r before it is dropped), however its bytes are split  (361 ms)
//! FAIL  hello-first        the first line must be HELLO; anything else: FT closes the connection without a word  (1 ms)
//!         A sent "SEARCH: chk-20848988-2-before-hello.txt\n"
//!         A got "ERROR: refused: first line was SEARCH, not HELLO\n", then the close
//!         => FT must send nothing here, but it answered (SEARCH came before HELLO)
//! ...
//! 3 passed, 5 failed
//! ```
//!
//!
//! # Examples: peers that get the download wrong
//!
//! Two peers that get the download wrong, as student peers have (the fakes
//! of `tests/check_fakes.rs`): one writes a line end after `FILE: `, so every byte
//! arrives one place late; one sends a byte too few:
//!
//! ```text
//! FAIL  download           DOWNLOAD: name, type, size gets FILE: and exactly the file's bytes, then B closes  (1 ms)
//!         A sent "DOWNLOAD: notes.txt, txt, 987\n"
//!         A got "FILE: " then 988 bytes, then the close
//!         => "\n" came between FILE: and the file's bytes: the bytes follow the space at once; then the whole file
//! FAIL  download           DOWNLOAD: name, type, size gets FILE: and exactly the file's bytes, then B closes  (0 ms)
//!         A sent "DOWNLOAD: notes.txt, txt, 987\n"
//!         A got "FILE: " then 986 bytes, then the close
//!         => 1 byte short: 986 of the file's 987 bytes came
//! ```
//!
//! A peer that answers a ranged `HASH` with the whole file's hash (it ignores
//! the range); `hash` shows both hashes, and which one came instead:
//!
//! ```text
//! FAIL  hash               (extension) HASH: name, type, size [, first, count] is answered HASH: and the SHA-256, in hex, of the bytes that DOWNLOAD sends  (0 ms)
//!         A sent "HASH: notes.txt, txt, 987\n"
//!         A got "HASH: a64f779556984cc397aa693f519cc806f3c64e9eb6d887a6d5fd164fd65a1909\n"
//!         B sent "HASH: notes.txt, txt, 987, 1, 2\n"
//!         B got "HASH: a64f779556984cc397aa693f519cc806f3c64e9eb6d887a6d5fd164fd65a1909\n"
//!         => wrong hash of chunks 1 to 2: B sent a64f779556984cc397aa693f519cc806f3c64e9eb6d887a6d5fd164fd65a1909, the SHA-256 of those bytes of your --file is 7eabb01dd102f193f26d16345f3370bc532d18e7782e7ef6fce1dc32d8d571b7 (that is the whole file's hash: the range was ignored)
//! ```
//!
//! # How it plays the other side
//!
//! - It never trusts your program: every read is bounded (a line of at most
//!   1 MiB) and has a time limit (`--timeout SECS`, default 5 per probe; 0.5
//!   is fine on one machine). A program that hangs, closes at once, or sends
//!   endless lines or random bytes gets a report all the same: each rule waits
//!   at most a limit or two, and one failed rule never stops the others. A
//!   correct program is checked in a second or two.
//! - It is strict about what your program writes (`FOUND: <txt, 986, ...>`,
//!   fields separated by `, `, records by one space, every line ending in
//!   `\n`) and lenient where the protocol lets a reader be, and where one
//!   framing mistake would hide everything else. Each rule checks one thing
//!   and gets past the rest the way that works with your program, so one
//!   mistake fails one rule: a `HI` or a reply without its line end is taken
//!   after a short wait (200 ms); when `HELLO\n` gets no HI, a bare `HELLO`
//!   is tried, and used from then on; FOUND records are read whatever
//!   separates them; when several records in one join are refused, the
//!   others join with one; a session your tracker closes after a reply joins
//!   again. Each of those faults is named once, by its own rule (`hello-hi`,
//!   `not-found`, `found`, `several-holders`, `join`).
//! - A peer that answers only once the requester has closed its sending side
//!   (it reads "everything" before it answers) is named once, in the first
//!   rule it answers; the checker then half-closes after every request, so
//!   the other rules judge their own thing.
//! - The tracker check plays several peers at once. Their records announce the
//!   checker's own address on that connection (the address your tracker sees
//!   it come from), on ports where the checker really listens, and files named
//!   `chk-<run>-<n>-...`, unique to each run, so it can be run against a
//!   tracker the class is using. Every one of its sessions leaves with `BYE`,
//!   except the one the `crash` rule closes on purpose, so the check does not
//!   wear out a tracker that keeps a thread per crashed session; `crash` then
//!   checks that a new session is still answered.
//! - The peer check uploads one small file, `chk-<run>-upload.txt` (250
//!   bytes), which stays in your peer's folder (delete it if you like); the
//!   rest only reads.

// Like the library: safe Rust only, also in the code that reads bytes
// from anyone.
#![forbid(unsafe_code)]

mod probe;
mod report;
mod rules;

use report::{Report, Style};
use rules::{peer, tracker, Selection};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
usage: check tracker HOST:PORT [--stage N] [--rule NAME]... [--timeout SECS] [--summary | --json]
       check peer HOST:PORT --file PATH [--stage N] [--rule NAME]... [--timeout SECS] [--summary | --json]

Checks a file tracker or a peer, in any language, against the protocol of
this project's README, rule by rule: one line per rule, PASS or FAIL, and
under each FAIL what was sent and what came back, and the file:line of
this project's own code that keeps the rule, to compare with yours.

  tracker HOST:PORT    check the tracker listening there
  peer HOST:PORT       check the peer listening there
  --file PATH          (peer) a local copy of one file the peer serves: its
                       name, type and size come from it, and its bytes are
                       what a DOWNLOAD must return
  --stage N            only the stages up to N (a half-written program):
                         tracker: 1 join, 2 search, 3 leave, 4 extensions
                         peer:    1 download, 2 extensions
  --rule NAME          only this rule (give it again for more): hello-hi,
                       found, ... as the report names them
  --timeout SECS       the longest any one probe waits for an answer
                       (default 5; fractions such as 0.5 are fine)
  --summary            print one line: the address, how many rules passed
                       and failed, and the names of the failed rules
  --json               print the report as one JSON object (its fields are
                       listed in bin/check/report.rs)

The last line is `N passed, N failed`, and `, N not judged` when some rules
could not be judged because what they need does not work (no HI, no
accepted join): those say what they need, and which rule to see. The exit
status is 0 when every core rule passed (extensions may fail), 1 when one
failed or was not judged, 2 for a bad command line. The tracker check joins
with made-up files named chk-...; the peer check uploads one small file
chk-...-upload.txt to the peer.
";

/// The default time limit of each probe: a live program on a lab network
/// answers in milliseconds, and a student waiting for the report should not
/// wait long for a program that never answers.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `--timeout` taken: a minute per probe is already far more
/// than any program needs.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// What the command line asked for.
struct Options {
    kind: Kind,
    /// The address as the user wrote it, for the report.
    shown: String,
    addr: SocketAddr,
    file: Option<PathBuf>,
    stage: u32,
    /// `--rule NAME`, in the order given; empty: every rule.
    rules: Vec<String>,
    limit: Duration,
    style: Style,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Tracker,
    Peer,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Tracker => "tracker",
            Kind::Peer => "peer",
        }
    }

    /// The names and stages of this check's rules.
    fn rules(self) -> Vec<(&'static str, u32)> {
        match self {
            Kind::Tracker => rules::names(&tracker::RULES),
            Kind::Peer => rules::names(&peer::RULES),
        }
    }
}

/// The exit status of a bad command line (1 means "a core rule failed").
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("check: {why}\n(check --help lists the options)");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let target = format!("{} at {}", options.kind.word(), options.shown);
    let mut report = Report::new(target, options.style);
    if let Err(why) = someone_listens(&options) {
        report.nothing_checked(why);
        return ExitCode::FAILURE;
    }
    let checked = match options.kind {
        Kind::Tracker => check_tracker(&options, &mut report),
        Kind::Peer => check_peer(&options, &mut report),
    };
    match checked {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(why) => {
            eprintln!("check: {why}");
            ExitCode::from(USAGE_ERROR)
        }
    }
}

/// One connection first, closed at once: where nothing listens, the
/// report is one line, not a failure under every rule.
fn someone_listens(options: &Options) -> Result<(), String> {
    let addr = &options.shown;
    match TcpStream::connect_timeout(&options.addr, options.limit) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(format!(
            "nothing listens at {addr} (the connection was refused): start your {} there, or check the address",
            options.kind.word()
        )),
        Err(e) => Err(format!(
            "nothing listens at {addr}: no connection within {} ({e}); check the address, and that no firewall is in the way",
            probe::seconds(options.limit)
        )),
    }
}

fn check_tracker(options: &Options, report: &mut Report) -> Result<bool, String> {
    let target = tracker::Tracker::new(options.addr, options.limit, run_tag());
    let selection = selection(options, &options.kind.rules())?;
    report.heading(&tracker::STAGES, &selection, options.limit);
    rules::run_all(
        &target,
        &tracker::STAGES,
        &tracker::RULES,
        &selection,
        report,
    );
    Ok(report.finish())
}

fn check_peer(options: &Options, report: &mut Report) -> Result<bool, String> {
    let path = options.file.as_deref().unwrap_or(std::path::Path::new(""));
    let file = peer::LocalFile::read(path)?;
    let target = peer::Peer::new(options.addr, options.limit, file, run_tag());
    let selection = selection(options, &options.kind.rules())?;
    report.heading(&peer::STAGES, &selection, options.limit);
    if let Some(line) = target.compare_file() {
        report.note(line);
    }
    rules::run_all(&target, &peer::STAGES, &peer::RULES, &selection, report);
    Ok(report.finish())
}

/// The rules the options choose; a `--rule` this check does not have is a
/// bad command line.
fn selection<'a>(options: &'a Options, rules: &[(&str, u32)]) -> Result<Selection<'a>, String> {
    for wanted in &options.rules {
        match rules.iter().find(|(name, _)| name == wanted) {
            None => {
                let names: Vec<&str> = rules.iter().map(|(name, _)| *name).collect();
                return Err(format!(
                    "--rule {wanted}: the {} check has no such rule; its rules: {}",
                    options.kind.word(),
                    names.join(", ")
                ));
            }
            Some((_, stage)) if *stage > options.stage => {
                return Err(format!(
                    "--rule {wanted} is a rule of stage {stage}, past --stage {}",
                    options.stage
                ))
            }
            Some(_) => {}
        }
    }
    Ok(Selection {
        up_to: options.stage,
        only: &options.rules,
    })
}

/// The options as they are read, before they are checked together.
#[derive(Default)]
struct Read {
    words: Vec<String>,
    file: Option<PathBuf>,
    stage: Option<u32>,
    rules: Vec<String>,
    limit: Option<Duration>,
    summary: bool,
    json: bool,
}

/// Reads the command line (without the program name).
fn parse(args: &[String]) -> Result<Options, String> {
    let mut read = Read::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--file" => read.file = Some(PathBuf::from(value()?)),
            "--stage" => read.stage = Some(stage_number(value()?)?),
            "--rule" => read.rules.push(value()?.clone()),
            "--timeout" => read.limit = Some(timeout(value()?)?),
            "--summary" => read.summary = true,
            "--json" => read.json = true,
            option if option.starts_with('-') => return Err(format!("unknown option {option}")),
            word => read.words.push(word.to_string()),
        }
    }
    let options = options(read)?;
    // A `--rule` that chooses nothing is a bad command line too.
    selection(&options, &options.kind.rules())?;
    Ok(options)
}

/// The options read, checked together.
fn options(read: Read) -> Result<Options, String> {
    let (kind, shown) = match read.words.as_slice() {
        [kind, addr] => (kind, addr),
        [] | [_] => {
            return Err(
                "say what to check: tracker HOST:PORT, or peer HOST:PORT --file PATH".into(),
            )
        }
        [_, _, extra, ..] => return Err(format!("unexpected argument {extra:?}")),
    };
    let (kind, stages) = match kind.as_str() {
        "tracker" => (Kind::Tracker, tracker::STAGES.len()),
        "peer" => (Kind::Peer, peer::STAGES.len()),
        other => return Err(format!("check what? {other:?}: say tracker or peer")),
    };
    if kind == Kind::Peer && read.file.is_none() {
        return Err(
            "the peer check needs --file PATH: a local copy of one file the peer serves".into(),
        );
    }
    if kind == Kind::Tracker && read.file.is_some() {
        return Err("--file is for the peer check; the tracker check needs no file".into());
    }
    if read.summary && read.json {
        return Err("--summary and --json are two ways to print the report: choose one".into());
    }
    let stage = read.stage.unwrap_or(stages as u32);
    if stage as usize > stages {
        return Err(format!(
            "--stage {stage}: this check has stages 1 to {stages}"
        ));
    }
    let style = match (read.summary, read.json) {
        (true, _) => Style::Summary,
        (_, true) => Style::Json,
        _ => Style::Full,
    };
    Ok(Options {
        kind,
        addr: resolve(shown)?,
        shown: shown.clone(),
        file: read.file,
        stage,
        rules: read.rules,
        limit: read.limit.unwrap_or(DEFAULT_TIMEOUT),
        style,
    })
}

/// `--stage N`: 1 or more.
fn stage_number(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "--stage needs a stage number (1, 2, ...), not {text:?}"
        )),
    }
}

/// `--timeout SECS`: above 0, at most [`MAX_TIMEOUT`].
fn timeout(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|limit| !limit.is_zero() && *limit <= MAX_TIMEOUT)
        .ok_or_else(|| {
            format!(
                "--timeout needs a number of seconds above 0 and at most {}, not {text:?}",
                MAX_TIMEOUT.as_secs()
            )
        })
}

/// `HOST:PORT` to an address: an IP address or a host name (the first
/// address it has).
fn resolve(text: &str) -> Result<SocketAddr, String> {
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| format!("{text:?} is not HOST:PORT ({e})"))?;
    addrs
        .next()
        .ok_or_else(|| format!("{text:?} has no address"))
}

/// A tag unique to this run, for the names of the files the checker makes
/// up: two checks at once, or one after another, never share a name.
fn run_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    format!("{:04x}{:04x}", std::process::id() & 0xffff, nanos & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::{parse, Kind, Style, DEFAULT_TIMEOUT};
    use std::time::Duration;

    fn args(words: &str) -> Vec<String> {
        words.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn a_whole_command_line_is_read() {
        let options = parse(&args(
            "peer 127.0.0.1:5001 --file x.txt --stage 1 --timeout 0.5 --summary",
        ))
        .unwrap();
        assert!(options.kind == Kind::Peer && options.style == Style::Summary);
        assert_eq!(options.stage, 1);
        assert_eq!(options.limit, Duration::from_millis(500));
        assert_eq!(options.addr.port(), 5001);
        let options = parse(&args("tracker localhost:5000")).unwrap();
        assert_eq!(options.stage, 4, "every stage by default");
        assert_eq!(options.limit, DEFAULT_TIMEOUT);
        let options = parse(&args(
            "tracker localhost:5000 --rule join --rule found --json",
        ))
        .unwrap();
        assert_eq!(options.rules, ["join", "found"]);
        assert_eq!(options.style, Style::Json);
    }

    #[test]
    fn bad_command_lines_say_why() {
        for (line, why) in [
            ("", "say what to check"),
            ("tracker", "say what to check"),
            ("server 127.0.0.1:1", "say tracker or peer"),
            ("tracker 127.0.0.1", "not HOST:PORT"),
            ("peer 127.0.0.1:1", "needs --file"),
            ("tracker 127.0.0.1:1 --file x", "needs no file"),
            ("tracker 127.0.0.1:1 --stage 5", "stages 1 to 4"),
            ("tracker 127.0.0.1:1 --stage 0", "--stage needs"),
            ("tracker 127.0.0.1:1 --timeout 0", "--timeout needs"),
            ("tracker 127.0.0.1:1 --timeout", "needs a value"),
            ("tracker 127.0.0.1:1 --fast", "unknown option"),
            ("tracker 127.0.0.1:1 extra", "unexpected argument"),
            ("tracker 127.0.0.1:1 --summary --json", "choose one"),
            ("tracker 127.0.0.1:1 --rule", "needs a value"),
            ("tracker 127.0.0.1:1 --rule nope", "no such rule"),
            (
                "tracker 127.0.0.1:1 --rule list --stage 2",
                "past --stage 2",
            ),
        ] {
            let error = parse(&args(line)).err().unwrap_or_default();
            assert!(error.contains(why), "{line:?}: {error:?}");
        }
    }
}
