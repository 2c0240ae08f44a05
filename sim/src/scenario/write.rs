//! Writing a scenario back: the canonical layout `minimize` and
//! `from-fuzz` write, and a scenario made from a model program.

use super::*;

impl Scenario {
    /// The scenario as text, in the canonical layout (what `minimize`
    /// writes back).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for a in &self.about {
            s += format!("# {a}").trim_end();
            s.push('\n');
        }
        let mut head = String::new();
        if self.variant != Variant::Upstream {
            head += &format!("variant {}\n", self.variant.name());
        }
        if self.base != Base::Kernel {
            head += &format!("base {}\n", self.base.name());
        }
        if !self.bugs.is_empty() {
            let ids: Vec<&str> = self.bugs.iter().map(|b| b.info().id).collect();
            head += &format!("bugs {}\n", ids.join(" "));
        }
        if !self.settings.is_empty() {
            let kv: Vec<String> = self
                .settings
                .iter()
                .map(|(k, v)| {
                    if k == "privileged" {
                        format!("{k}={}", if *v != 0 { "yes" } else { "no" })
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect();
            head += &format!("config {}\n", kv.join(" "));
        }
        for d in &self.deny_watch_key {
            head += &format!("lsm deny_watch_key {d:?}\n");
        }
        match &self.lsm_module {
            LsmModule::None => {}
            LsmModule::Smack(rules) => {
                head += "lsm smack\n";
                for (s, o, a) in rules {
                    head += &format!("lsm smack_rule {s} {o} {a}\n");
                }
            }
            LsmModule::Selinux(allow) => {
                head += "lsm selinux\n";
                for (s, t, c, p) in allow {
                    head += &format!("lsm selinux_allow {s} {t} {c} {p}\n");
                }
            }
        }
        if !head.is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            s += &head;
        }
        if !self.setup.is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            s += "setup:\n";
            s += &steps_text(&self.setup);
        }
        for t in &self.threads {
            s += &format!("\nthread {}{}:\n", t.name, if t.blocking { " (blocking)" } else { "" });
            s += &steps_text(&t.steps);
        }
        if let Some(dirs) = &self.schedule {
            s += "\nschedule:\n";
            for d in dirs {
                match &d.until {
                    Some(u) => s += &format!("    {} until {u}\n", d.thread),
                    None => s += &format!("    {}\n", d.thread),
                }
            }
        }
        s.push('\n');
        for r in &self.runs {
            s += &run_line_text(r);
            s.push('\n');
        }
        s
    }
}

/// A `run` line as a scenario writes it, without the newline (options at
/// their defaults left out).
pub fn run_line_text(r: &RunSpec) -> String {
    let mut s = String::new();
    s += &format!("run {}", r.driver.name());
    if matches!(r.driver, Driver::Explorer(Kind::Random | Kind::Pct | Kind::Dfs)) {
        if r.iterations != 10_000 {
            s += &format!(" iterations={}", r.iterations);
        }
        if r.seed != 1 {
            s += &format!(" seed={}", r.seed);
        }
    }
    if r.driver == Driver::Explorer(Kind::Pct) && r.depth != 3 {
        s += &format!(" depth={}", r.depth);
    }
    if let Some(p) = r.preemptions {
        s += &format!(" preemptions={p}");
    }
    if let Some(n) = r.limits.steps_max {
        s += &format!(" steps_max={n}");
    }
    if let Some(n) = r.limits.time_limit_ms {
        s += &format!(" time_limit_ms={n}");
    }
    if let Some(n) = r.limits.memory_limit_mib {
        s += &format!(" memory_limit_mib={n}");
    }
    if !r.without.is_empty() {
        let ids: Vec<&str> = r.without.iter().map(|b| b.info().id).collect();
        s += &format!(" without {}", ids.join(","));
    }
    s += &format!(" expect {}", r.expect);
    s
}

pub(super) fn step_text(st: &Step) -> String {
    match &st.expect {
        Some(e) => format!("    {} => {e}\n", st.op),
        None => format!("    {}\n", st.op),
    }
}

/// Steps as text, runs of one operation written `repeat N OP`.
pub(super) fn steps_text(steps: &[Step]) -> String {
    let mut s = String::new();
    let mut i = 0;
    while i < steps.len() {
        let same = |a: &Step, b: &Step| a.op == b.op && a.expect == b.expect;
        // A run longer than a `repeat` may be is written as several.
        let n = steps[i..].iter().take_while(|x| same(x, &steps[i])).count().min(REPEAT_MAX as usize);
        if n > 2 {
            s += &step_text(&steps[i]).replacen("    ", &format!("    repeat {n} "), 1);
        } else {
            for st in &steps[i..i + n] {
                s += &step_text(st);
            }
        }
        i += n;
    }
    s
}

/// The `config` settings that turn `Config::default()` into `c` (bugs and
/// the LSM policy aside).
pub fn settings_of(c: &Config) -> Vec<(String, u64)> {
    let d = Config::default();
    let mut v = Vec::new();
    let mut put = |k: &str, a: u64, b: u64| {
        if a != b {
            v.push((k.to_string(), a));
        }
    };
    put("page_size", c.page_size as u64, d.page_size as u64);
    put("pipe_max_size", c.pipe_max_size as u64, d.pipe_max_size as u64);
    put("pipe_user_pages_soft", c.pipe_user_pages_soft, d.pipe_user_pages_soft);
    put("pipe_user_pages_hard", c.pipe_user_pages_hard, d.pipe_user_pages_hard);
    put("rlimit_nofile", c.rlimit_nofile, d.rlimit_nofile);
    put("uid", c.uid as u64, d.uid as u64);
    put("privileged", c.privileged as u64, d.privileged as u64);
    put("pipe_index_bits", c.pipe_index_bits as u64, d.pipe_index_bits as u64);
    put("pipe_initial_index", c.pipe_initial_index as u64, d.pipe_initial_index as u64);
    put("key_gc_delay", c.key_gc_delay, d.key_gc_delay);
    put("key_quota_maxkeys", c.key_quota_maxkeys as u64, d.key_quota_maxkeys as u64);
    put("key_quota_maxbytes", c.key_quota_maxbytes as u64, d.key_quota_maxbytes as u64);
    put("key_quota_root_maxkeys", c.key_quota_root_maxkeys as u64, d.key_quota_root_maxkeys as u64);
    put("key_quota_root_maxbytes", c.key_quota_root_maxbytes as u64, d.key_quota_root_maxbytes as u64);
    v
}

/// A scenario for a model program (a fuzz input's, once decoded, is
/// written out this way): `about` lines, the base, the switches on, the
/// program's setup and actors, and the run lines.
pub fn from_program(
    about: Vec<String>,
    base: Base,
    bugs: Vec<Bug>,
    p: &wqsim_model::conc::Program,
    runs: Vec<RunSpec>,
) -> Scenario {
    let mut sc = Scenario {
        path: String::new(),
        hash: 0,
        about,
        variant: p.config.variant,
        base,
        bugs,
        settings: settings_of(&p.config),
        deny_watch_key: p.config.lsm.deny_watch_key.clone(),
        lsm_module: p.config.lsm.module.clone(),
        setup: p.setup.iter().map(|op| Step { op: op.clone(), line: 0, expect: None }).collect(),
        threads: p
            .actors
            .iter()
            .map(|a| Thread {
                name: a.name.clone(),
                blocking: a.may_block,
                steps: a.ops.iter().map(|op| Step { op: op.clone(), line: 0, expect: None }).collect(),
                line: 0,
            })
            .collect(),
        schedule: None,
        runs,
    };
    sc.hash = fnv1a(sc.to_text().as_bytes());
    sc
}

/// A `run` line.
pub fn run_line(driver: Driver, without: Vec<Bug>, expect: Expect) -> RunSpec {
    RunSpec {
        driver,
        iterations: 10_000,
        seed: 1,
        depth: 3,
        preemptions: None,
        limits: RunLimits::default(),
        without,
        expect,
        line: 0,
    }
}
