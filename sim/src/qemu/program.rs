//! The host-to-guest program and the guest's output lines.
//!
//! A program is plain text, one directive per line:
//!
//! ```text
//! scenario errno/read-whole
//! limits uid=0 privileged=1 rlimit_nofile=1024 pipe_user_pages_soft=16384 pipe_user_pages_hard=0 key_gc_delay=300 maxkeys=200 maxbytes=20000 root_maxkeys=1000000 root_maxbytes=25000000
//! op pipe2 p0 O_NOTIFICATION_PIPE|O_NONBLOCK
//! op read p0.r 4096
//! end
//! stress races/post_vs_read 200
//! limits ...
//! setup pipe2 p0 O_NOTIFICATION_PIPE|O_NONBLOCK
//! thread reader
//! op read p0.r 4096
//! end
//! ```
//!
//! Operations are written in the scenario syntax ([`Op`]'s `Display`), so
//! the guest parses them with the scenario parser. The guest prints every
//! line it means for the host with the prefix [`PREFIX`], so kernel
//! messages on the same console do not get in the way.

use std::fmt::Write as _;

use wqsim_model::api::Op;
use wqsim_model::kernel::Config;

use crate::scenario::parse_op_text;

/// What starts every line the guest prints for the host.
pub const PREFIX: &str = "wq| ";
/// The guest's last line when it ran the whole program.
pub const DONE: &str = "done";

/// The credentials and limits a scenario runs with (the part of
/// [`Config`] a real process can take on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub uid: u32,
    pub privileged: bool,
    pub rlimit_nofile: u64,
    pub pipe_user_pages_soft: u64,
    pub pipe_user_pages_hard: u64,
    /// `/proc/sys/kernel/keys/gc_delay`.
    pub key_gc_delay: u64,
    /// `/proc/sys/kernel/keys/maxkeys`, `maxbytes`, `root_maxkeys` and
    /// `root_maxbytes`.
    pub key_quota: [u32; 4],
}

impl Limits {
    /// The limits of `c`.
    pub fn of(c: &Config) -> Limits {
        Limits {
            uid: c.uid,
            privileged: c.privileged,
            rlimit_nofile: c.rlimit_nofile,
            pipe_user_pages_soft: c.pipe_user_pages_soft,
            pipe_user_pages_hard: c.pipe_user_pages_hard,
            key_gc_delay: c.key_gc_delay,
            key_quota: [c.key_quota_maxkeys, c.key_quota_maxbytes, c.key_quota_root_maxkeys, c.key_quota_root_maxbytes],
        }
    }
}

/// One sequential scenario: its operations in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqJob {
    pub name: String,
    pub limits: Limits,
    pub ops: Vec<Op>,
}

/// One concurrent scenario, run `iterations` times on real threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StressJob {
    pub name: String,
    pub iterations: u32,
    pub limits: Limits,
    pub setup: Vec<Op>,
    pub threads: Vec<(String, Vec<Op>)>,
}

/// Everything one boot runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub seq: Vec<SeqJob>,
    pub stress: Vec<StressJob>,
}

fn limits_text(l: &Limits) -> String {
    format!(
        "limits uid={} privileged={} rlimit_nofile={} pipe_user_pages_soft={} pipe_user_pages_hard={} key_gc_delay={} maxkeys={} maxbytes={} root_maxkeys={} root_maxbytes={}\n",
        l.uid,
        l.privileged as u8,
        l.rlimit_nofile,
        l.pipe_user_pages_soft,
        l.pipe_user_pages_hard,
        l.key_gc_delay,
        l.key_quota[0],
        l.key_quota[1],
        l.key_quota[2],
        l.key_quota[3]
    )
}

impl Program {
    /// The program as the guest reads it.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for j in &self.seq {
            let _ = writeln!(s, "scenario {}", j.name);
            s += &limits_text(&j.limits);
            for op in &j.ops {
                let _ = writeln!(s, "op {op}");
            }
            s += "end\n";
        }
        for j in &self.stress {
            let _ = writeln!(s, "stress {} {}", j.name, j.iterations);
            s += &limits_text(&j.limits);
            for op in &j.setup {
                let _ = writeln!(s, "setup {op}");
            }
            for (name, ops) in &j.threads {
                let _ = writeln!(s, "thread {name}");
                for op in ops {
                    let _ = writeln!(s, "op {op}");
                }
            }
            s += "end\n";
        }
        s
    }

    /// Parse a program; errors name the line.
    pub fn parse(text: &str) -> Result<Program, String> {
        enum Cur {
            None,
            Seq(SeqJob),
            Stress(StressJob),
        }
        let mut p = Program::default();
        let mut cur = Cur::None;
        let default_limits = Limits::of(&Config::default());
        for (i, line) in text.lines().enumerate() {
            let no = i + 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            let op = |t: &str| parse_op_text(t).map_err(|e| format!("program line {no}: {}", e.message));
            match (word, &mut cur) {
                ("scenario", Cur::None) => {
                    cur = Cur::Seq(SeqJob { name: rest.to_string(), limits: default_limits.clone(), ops: vec![] })
                }
                ("stress", Cur::None) => {
                    let (name, n) =
                        rest.rsplit_once(' ').ok_or(format!("program line {no}: stress NAME ITERATIONS"))?;
                    let iterations = n.parse().map_err(|_| format!("program line {no}: bad iteration count `{n}`"))?;
                    cur = Cur::Stress(StressJob {
                        name: name.to_string(),
                        iterations,
                        limits: default_limits.clone(),
                        setup: vec![],
                        threads: vec![],
                    })
                }
                ("limits", Cur::Seq(SeqJob { limits, .. }) | Cur::Stress(StressJob { limits, .. })) => {
                    *limits = parse_limits(rest).map_err(|e| format!("program line {no}: {e}"))?
                }
                ("op", Cur::Seq(j)) => j.ops.push(op(rest)?),
                ("setup", Cur::Stress(j)) => j.setup.push(op(rest)?),
                ("thread", Cur::Stress(j)) => j.threads.push((rest.to_string(), vec![])),
                ("op", Cur::Stress(j)) => match j.threads.last_mut() {
                    Some((_, ops)) => ops.push(op(rest)?),
                    None => return Err(format!("program line {no}: `op` before any `thread`")),
                },
                ("end", Cur::Seq(_) | Cur::Stress(_)) => match std::mem::replace(&mut cur, Cur::None) {
                    Cur::Seq(j) => p.seq.push(j),
                    Cur::Stress(j) => p.stress.push(j),
                    Cur::None => unreachable!("matched a job above"),
                },
                _ => return Err(format!("program line {no}: unexpected `{word}`")),
            }
        }
        match cur {
            Cur::None => Ok(p),
            _ => Err("program: the last job has no `end`".to_string()),
        }
    }
}

fn parse_limits(s: &str) -> Result<Limits, String> {
    let mut l = Limits::of(&Config::default());
    for kv in s.split_whitespace() {
        let (k, v) = kv.split_once('=').ok_or(format!("`{kv}` is not KEY=VALUE"))?;
        let n: u64 = v.parse().map_err(|_| format!("`{kv}`: not a number"))?;
        match k {
            "uid" => l.uid = n as u32,
            "privileged" => l.privileged = n != 0,
            "rlimit_nofile" => l.rlimit_nofile = n,
            "pipe_user_pages_soft" => l.pipe_user_pages_soft = n,
            "pipe_user_pages_hard" => l.pipe_user_pages_hard = n,
            "key_gc_delay" => l.key_gc_delay = n,
            "maxkeys" => l.key_quota[0] = n as u32,
            "maxbytes" => l.key_quota[1] = n as u32,
            "root_maxkeys" => l.key_quota[2] = n as u32,
            "root_maxbytes" => l.key_quota[3] = n as u32,
            _ => return Err(format!("unknown limit `{k}`")),
        }
    }
    Ok(l)
}

/// What the guest reported for one stress scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StressOutput {
    pub name: String,
    pub iterations: u32,
    /// Each violation, as text.
    pub violations: Vec<String>,
    /// Records checked, and queues whose loss accounting was checked,
    /// over all iterations.
    pub records: u64,
    pub loss_checked: u64,
}

/// What the guest reported, parsed from the console.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestOutput {
    /// Per sequential scenario: the outcome of each operation, as
    /// `outcome_text` writes it (fewer than the operations if the guest
    /// stopped early, with the reason in `failed`).
    pub seq: Vec<(String, Vec<String>)>,
    /// Per stress scenario.
    pub stress: Vec<StressOutput>,
    /// Scenarios the guest could not run to the end, and why.
    pub failed: Vec<(String, String)>,
    /// Whether the guest printed its final line.
    pub done: bool,
}

/// The lines the guest printed for the host, each as its first word and
/// the rest: only lines carrying [`PREFIX`] count (kernel messages share
/// the console).
pub fn guest_lines(console: &str) -> impl Iterator<Item = (&str, &str)> {
    console.lines().filter_map(|raw| {
        let at = raw.find(PREFIX)?;
        let line = raw[at + PREFIX.len()..].trim_end_matches('\r');
        Some(line.split_once(' ').unwrap_or((line, "")))
    })
}

/// Parse the console output: only lines carrying [`PREFIX`] count.
pub fn parse_output(console: &str) -> GuestOutput {
    let mut g = GuestOutput::default();
    for (word, rest) in guest_lines(console) {
        match word {
            "begin" => g.seq.push((rest.to_string(), vec![])),
            "=" => {
                if let Some((_, outs)) = g.seq.last_mut() {
                    outs.push(rest.to_string());
                }
            }
            "stress" => {
                // stress NAME ITERATIONS
                if let Some((name, n)) = rest.rsplit_once(' ') {
                    g.stress.push(StressOutput {
                        name: name.to_string(),
                        iterations: n.parse().unwrap_or(0),
                        ..StressOutput::default()
                    });
                }
            }
            "violation" => {
                if let Some(s) = g.stress.last_mut() {
                    s.violations.push(rest.to_string());
                }
            }
            "checked" => {
                if let Some(s) = g.stress.last_mut() {
                    for kv in rest.split_whitespace() {
                        match kv.split_once('=') {
                            Some(("records", n)) => s.records = n.parse().unwrap_or(0),
                            Some(("loss_checked", n)) => s.loss_checked = n.parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
            }
            "failed" => {
                let (name, why) = rest.split_once(": ").unwrap_or((rest, ""));
                g.failed.push((name.to_string(), why.to_string()));
            }
            DONE => g.done = true,
            _ => {}
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_round_trips() {
        let text = "scenario a/b\nlimits uid=1000 privileged=0 rlimit_nofile=5 pipe_user_pages_soft=1 pipe_user_pages_hard=0 key_gc_delay=300 maxkeys=200 maxbytes=20000 root_maxkeys=1000000 root_maxbytes=25000000\nop pipe2 p0 O_NOTIFICATION_PIPE|O_NONBLOCK\nop read p0.r 4096\nend\nstress c 7\nlimits uid=0 privileged=1 rlimit_nofile=1024 pipe_user_pages_soft=16384 pipe_user_pages_hard=0 key_gc_delay=300 maxkeys=200 maxbytes=20000 root_maxkeys=1000000 root_maxbytes=25000000\nsetup pipe2 p0 O_NOTIFICATION_PIPE\nthread t1\nop read p0.r 64\nthread t2\nop close p0.w\nend\n";
        let p = Program::parse(text).unwrap();
        assert_eq!(p.seq[0].limits.uid, 1000);
        assert_eq!(p.stress[0].threads.len(), 2);
        assert_eq!(p.to_text(), text);
    }

    #[test]
    fn program_errors_name_the_line() {
        assert_eq!(Program::parse("op read p0.r 1\n").unwrap_err(), "program line 1: unexpected `op`");
        assert_eq!(
            Program::parse("scenario x\nop frobnicate\nend\n").unwrap_err().split(':').next(),
            Some("program line 2")
        );
        assert_eq!(Program::parse("scenario x\n").unwrap_err(), "program: the last job has no `end`");
    }

    #[test]
    fn output_parsing_ignores_kernel_lines() {
        let console = "[    0.1] Linux version\r\nwq| begin a\r\nwq| = 0\r\n[ 1.0] random: crng\r\nwq| = [meta.loss]\r\nwq| stress b 10\r\nwq| violation iteration 3: torn\r\nwq| checked records=40 loss_checked=9\r\nwq| done\r\n";
        let g = parse_output(console);
        assert_eq!(g.seq, vec![("a".to_string(), vec!["0".to_string(), "[meta.loss]".to_string()])]);
        assert_eq!(
            g.stress,
            vec![StressOutput {
                name: "b".to_string(),
                iterations: 10,
                violations: vec!["iteration 3: torn".to_string()],
                records: 40,
                loss_checked: 9
            }]
        );
        assert!(g.done);
    }
}
