//! The differential property (R1, R2): replaying any log the kernel wrote reproduces every
//! recorded decision exactly, and forking it against its own policy changes nothing. Sessions
//! are random: policies (the built-in profiles with random grant budgets), agents, syscalls,
//! targets, labels, grants (covering, not covering, unknown), inputs linked to earlier outputs
//! (and to invalid steps), oversized requests, secret stores that can or cannot open, and a
//! clock that may step back. This is the test that keeps the live path and the replay path
//! from drifting apart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::accept::Acceptance;
use agentk_flightlog::event::{Effect, EventBody, EventLine, Hash32};
use agentk_flightlog::kernel::{Clock, Entropy, EvidenceSalt, Kernel, MemoryLog, SyscallRequest};
use agentk_labels::{LabelSet, SyscallKind};
use agentk_policy::{Policy, Profile};
use agentk_replay::{fork_replay, replay};
use agentk_secrets::{Mode, SecretBroker, SecretTarget, StoreRegistry};
use proptest::prelude::*;

/// A deterministic TEST KEY seed; never sign anything real with it.
const REPLAY_TEST_KEY: [u8; 32] = [0x31; 32];
const START: u64 = 1_767_225_600;

struct SharedClock(Arc<AtomicU64>);
impl Clock for SharedClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counter(u64);
impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (self.0 >> ((i % 8) * 8)) as u8;
        }
    }
}

const AGENTS: [&str; 5] = ["agent-1", "browser-1", "coding-release", "research-2", "coding-ci"];
const SYSCALLS: [&str; 12] = [
    "context.read",
    "model.call",
    "tool.invoke",
    "tool.response",
    "secret.open",
    "network.send",
    "file.patch",
    "memory.write",
    "agent.spawn",
    "resource.read",
    "kernel.reboot",
    "human.approve",
];
const TARGETS: [&str; 10] = [
    "secret://demo-api",
    "secret://deploy-token",
    "secret://not-registered",
    "mcp://docs.example.invalid/search",
    "mcp://ci.example.invalid/run",
    "mcp://papers.example.invalid/find",
    "https://shop.example.invalid/cart",
    "https://search.example.invalid/q",
    "https://evil.example.invalid/c",
    "file:///workspace/src/lib.rs",
];
const GRANTS: [&str; 13] = [
    // Ids the kernel records escaped or shortened: replay must compare them as recorded.
    "a-presented-grant-id-that-is-much-longer-than-the-sixty-four-characters-the-log-keeps-of-it",
    "grant\u{1b}[2J`with`-controls",
    "demo-secret",
    "demo-docs-search",
    "shop-forms",
    "docs-sites",
    "workspace-files",
    "package-registry",
    "ci-tool",
    "deploy-token",
    "search-api",
    "papers-tool",
    "no-such-grant",
];

/// Requests shaped to a grant of one of the profiles: (grant, agent, syscall, target). Random
/// requests alone would rarely reach a covering grant, so budgets, receipts, handles and the
/// kernel's own denies would go untested.
const SHAPES: [(&str, &str, &str, &str); 9] = [
    ("demo-secret", "agent-1", "secret.open", "secret://demo-api"),
    ("demo-docs-search", "agent-1", "tool.invoke", "mcp://docs.example.invalid/search"),
    ("shop-forms", "browser-1", "network.send", "https://shop.example.invalid/cart"),
    ("workspace-files", "coding-ci", "file.patch", "file:///workspace/src/lib.rs"),
    ("package-registry", "coding-ci", "network.send", "https://registry.example.invalid/x"),
    ("ci-tool", "coding-ci", "tool.invoke", "mcp://ci.example.invalid/run"),
    ("deploy-token", "coding-release", "secret.open", "secret://deploy-token"),
    ("search-api", "research-2", "network.send", "https://search.example.invalid/q"),
    ("papers-tool", "research-2", "tool.invoke", "mcp://papers.example.invalid/find"),
];

/// One random request.
#[derive(Clone, Debug)]
struct Step {
    agent: usize,
    syscall: usize,
    target: usize,
    labels: u8,
    grant: Option<usize>,
    /// Link the input to an earlier step: `Some(k)` picks among the steps so far; `k` past
    /// them gives an invalid link (0 or a future step).
    from: Option<usize>,
    /// Make the target too long to record (keeping its prefix, so it still matches patterns).
    oversized: bool,
    /// Make the agent too long to record (keeping its prefix).
    oversized_agent: bool,
    /// Shape the request to this grant (index into [`SHAPES`]), usually with clean labels.
    shaped: Option<usize>,
    /// Seconds to move the clock (may step back).
    clock: i64,
}

impl Step {
    /// A plain request: `agent`, `syscall` and `target` index the pools, with `labels`.
    fn plain(agent: usize, syscall: usize, target: usize, labels: LabelSet) -> Self {
        Step {
            agent,
            syscall,
            target,
            labels: labels.bits(),
            grant: None,
            from: None,
            oversized: false,
            oversized_agent: false,
            shaped: None,
            clock: 1,
        }
    }

    /// A clean request shaped to `SHAPES[shape]`.
    fn shaped(shape: usize) -> Self {
        Step { shaped: Some(shape), ..Step::plain(0, 0, 0, LabelSet::EMPTY) }
    }
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..AGENTS.len(),
        0..SYSCALLS.len(),
        0..TARGETS.len(),
        0u8..64,
        proptest::option::weighted(0.7, 0..GRANTS.len()),
        proptest::option::weighted(0.3, 0usize..12),
        proptest::bool::weighted(0.03),
        prop_oneof![8 => 0i64..5, 1 => -4000i64..0, 1 => 0i64..4000],
        proptest::option::weighted(0.6, 0..SHAPES.len()),
        proptest::bool::weighted(0.03),
    )
        .prop_map(|(agent, syscall, target, labels, grant, from, oversized, clock, shaped, oversized_agent)| {
            Step { agent, syscall, target, labels, grant, from, oversized, clock, shaped, oversized_agent }
        })
}

/// A built-in profile with every grant budget set from `uses`.
fn policy_text(profile: usize, uses: &[u32]) -> String {
    let profile = Profile::ALL[profile % Profile::ALL.len()];
    let mut budgets = uses.iter().cycle();
    profile
        .source()
        .lines()
        .map(|line| match line.strip_prefix("uses = ") {
            Some(_) => format!("uses = {}", budgets.next().copied().unwrap_or(1)),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes a session with the real kernel and answers its lines.
fn session(text: &str, with_broker: bool, checkpoint_every: u32, steps: &[Step]) -> Vec<String> {
    let policy = Policy::parse("random", text).unwrap();
    let mut broker = SecretBroker::new(StoreRegistry::new(), Mode::Strict);
    if with_broker {
        broker.register_dummy(SecretTarget::parse("secret://demo-api").unwrap()).unwrap();
        broker.register_dummy(SecretTarget::parse("secret://deploy-token").unwrap()).unwrap();
    }
    let clock = Arc::new(AtomicU64::new(START));
    let parts = Kernel::builder()
        .policy(text.into(), Arc::new(policy))
        .signer(Arc::new(SigningIdentity::from_secret(&REPLAY_TEST_KEY, SignerSource::Embedded)))
        .broker(Arc::new(broker))
        .clock(SharedClock(Arc::clone(&clock)))
        .entropy(Counter(0))
        .log_id([0x42; 32])
        .origin("replay-test.example.invalid")
        .checkpoint_every(checkpoint_every);
    let mut kernel = parts.open_sink(MemoryLog::new()).unwrap();
    let salt = EvidenceSalt::from_bytes([0x05; 32]);
    let mut seqs: Vec<(u64, Option<LabelSet>)> = Vec::new();
    let long = "a".repeat(5000);
    for (i, s) in steps.iter().enumerate() {
        let now = clock.load(Ordering::Relaxed).saturating_add_signed(s.clock);
        clock.store(now, Ordering::Relaxed);
        let shape = s.shaped.and_then(|i| SHAPES.get(i));
        let mut labels = LabelSet::from_bits(s.labels).unwrap_or(LabelSet::EMPTY);
        if shape.is_some() && s.labels % 4 != 0 {
            labels = LabelSet::EMPTY;
        }
        let mut input = salt.input(labels, format!("dummy input {i}").as_bytes());
        if let Some(k) = s.from {
            input = match seqs.get(k) {
                Some(&(seq, out)) => salt.input(out.unwrap_or(labels), b"dummy output").output_of(seq),
                None if k % 2 == 0 => input.output_of(0),
                None => input.output_of(kernel.events() + 1),
            };
        }
        let inputs = [input];
        let (grant, agent, syscall, target) = match shape {
            Some(&(grant, agent, syscall, target)) => (Some(grant), agent, syscall, target),
            None => (s.grant.map(|g| GRANTS[g]), AGENTS[s.agent], SYSCALLS[s.syscall], TARGETS[s.target]),
        };
        let long_target = format!("{target}{long}");
        let long_agent = format!("{agent}{}", &long[..300]);
        let target = if s.oversized { long_target.as_str() } else { target };
        let agent = if s.oversized_agent { long_agent.as_str() } else { agent };
        let request = SyscallRequest { agent, syscall: SyscallKind::parse(syscall), target, inputs: &inputs, grant };
        let seq = kernel.events();
        let outcome = kernel.decide(&request).unwrap();
        seqs.push((seq, outcome.output_labels));
    }
    kernel.close().unwrap().lines().to_vec()
}

fn joined(lines: &[String]) -> Vec<u8> {
    lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    // guarantee: R1
    #[test]
    fn replay_reproduces_every_decision_the_kernel_recorded(
        profile in 0usize..4,
        uses in proptest::collection::vec(1u32..4, 1..6),
        with_broker in proptest::bool::weighted(0.8),
        checkpoint_every in 0u32..5,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let text = policy_text(profile, &uses);
        let lines = session(&text, with_broker, checkpoint_every, &steps);
        let policy = Policy::parse("random", &text).unwrap();
        let report = replay(joined(&lines).as_slice(), &text, &policy, Acceptance::default()).unwrap();
        prop_assert!(report.reproduced_all(), "{:?}", report.divergences.rows);
        prop_assert_eq!(report.replayed, steps.len() as u64);
        prop_assert_eq!(report.reproduced, steps.len() as u64);
        prop_assert_eq!(report.events, lines.len() as u64);
        // Stubs exactly for allowed model.call, tool.invoke and network.send.
        let events: Vec<EventLine> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let mut stubbed = 0;
        for row in &report.steps.rows {
            let Some(EventLine { event: EventBody::Syscall(event), hash, .. }) = events.get(row.site.step as usize) else {
                panic!("row {} names no syscall event", row.site.step);
            };
            let wants = event.decision == Effect::Allow
                && ["model.call", "tool.invoke", "network.send"].contains(&event.syscall.as_str());
            let expected: Option<Hash32> = wants.then(|| agentk_replay::stub_output(hash));
            prop_assert_eq!(row.stub_output, expected);
            stubbed += u64::from(wants);
        }
        prop_assert_eq!(report.stubbed, stubbed);

        // guarantee: R2 (a fork against the log's own policy changes nothing)
        let fork = fork_replay(joined(&lines).as_slice(), &policy, Acceptance::default()).unwrap();
        prop_assert_eq!(fork.changes.changed.total(), 0);
        prop_assert!(fork.changes.transitions.is_empty());
        prop_assert_eq!(fork.unchanged, steps.len() as u64);
    }
}

/// Rewrites `lines` as the signing key's holder could: `change` edits the syscall event at
/// `seq`, and every later event is resealed, with its checkpoints recomputed and signed again.
fn forge(lines: &[String], seq: usize, change: impl Fn(&mut agentk_flightlog::event::SyscallEvent)) -> Vec<String> {
    use agentk_capability::SignContext;
    use agentk_flightlog::event::{CheckpointEvent, checkpoint_statement};
    use agentk_flightlog::merkle::{Frontier, leaf_hash};

    let key = SigningIdentity::from_secret(&REPLAY_TEST_KEY, SignerSource::Embedded);
    let mut events: Vec<EventLine> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let EventBody::Genesis(genesis) = &events[0].event else { panic!("no genesis") };
    let log_id = genesis.log_id;
    let (mut prev, mut frontier) = (Hash32::default(), Frontier::new());
    for (i, line) in events.iter_mut().enumerate() {
        let mut body = line.event.clone();
        match &mut body {
            EventBody::Syscall(event) if i == seq => change(event),
            EventBody::Checkpoint(checkpoint) => {
                let root = Hash32(frontier.root().0);
                let statement = checkpoint_statement(&log_id, checkpoint.size, &root);
                let (_, signature) = key.sign_in_context(SignContext::Checkpoint, &statement);
                *checkpoint = CheckpointEvent { size: checkpoint.size, root, signature: signature.to_hex() };
            }
            _ => {}
        }
        *line = EventLine::seal(line.seq, prev, body);
        prev = line.hash;
        frontier.push(leaf_hash(&line.hash.0));
    }
    events.iter().map(EventLine::to_line).collect()
}

// guarantee: R1 (a decision rewritten by the key's holder still verifies, but replay decides
// it again and reports the divergence)
#[test]
fn a_rewritten_decision_that_verifies_is_caught_by_replay() {
    let text = Profile::Starter.source();
    let deny = Step::plain(0, 5, 8, LabelSet::of(agentk_labels::Label::Private));
    let lines = session(text, true, 2, &[deny.clone(), deny.clone(), deny]);
    let policy = Policy::parse("starter", text).unwrap();
    assert!(replay(joined(&lines).as_slice(), text, &policy, Acceptance::default()).unwrap().reproduced_all());
    let target_seq = 2;
    let forged = forge(&lines, target_seq, |event| event.rule = "egress-needs-grant".to_owned());
    assert_ne!(forged, lines);
    agentk_flightlog::verify::verify_lines(forged.iter().map(String::as_str)).unwrap();
    let report = replay(joined(&forged).as_slice(), text, &policy, Acceptance::default()).unwrap();
    assert!(!report.reproduced_all());
    assert_eq!(report.divergences.total(), 1);
    let divergence = &report.divergences.rows[0];
    assert_eq!(divergence.site.step, target_seq as u64);
    assert_eq!(divergence.differs, ["rule"]);
    assert_eq!(divergence.recorded.key(), "deny:egress-needs-grant");
    assert_eq!(divergence.replayed.key(), "deny:egress-sensitive-data");

    // Flipping the deny to an allow (no receipt needed without a grant) is caught the same way.
    let flipped = forge(&lines, target_seq, |event| {
        event.decision = Effect::Allow;
        event.output_labels = Some(LabelSet::of(agentk_labels::Label::Private));
    });
    agentk_flightlog::verify::verify_lines(flipped.iter().map(String::as_str)).unwrap();
    let report = replay(joined(&flipped).as_slice(), text, &policy, Acceptance::default()).unwrap();
    assert_eq!(report.divergences.rows[0].differs, ["decision", "output_labels"]);
}

// guarantee: R1 (kernel denies that only the live environment could know are taken from the
// record only where they are possible: a `secret-unavailable` on a `network.send` is not)
#[test]
fn an_impossible_kernel_deny_is_caught_by_replay() {
    let text = Profile::Browser.source();
    let send = Step::shaped(2); // shop-forms: browser-1, network.send, a covering grant
    let lines = session(text, true, 0, &[send]);
    let policy = Policy::parse("browser", text).unwrap();
    let report = replay(joined(&lines).as_slice(), text, &policy, Acceptance::default()).unwrap();
    assert_eq!((report.reproduced, report.allowed), (1, 1));
    let forged = forge(&lines, 1, |event| {
        event.decision = Effect::Deny;
        event.rule = "secret-unavailable".to_owned();
        event.output_labels = None;
        event.receipt = None;
    });
    agentk_flightlog::verify::verify_lines(forged.iter().map(String::as_str)).unwrap();
    let report = replay(joined(&forged).as_slice(), text, &policy, Acceptance::default()).unwrap();
    assert_eq!(report.divergences.total(), 1, "{:?}", report.steps.rows);
    assert_eq!(report.divergences.rows[0].replayed.key(), "allow:browser-egress-granted-host");

    // A request recorded with its inputs was not malformed (a malformed one is recorded
    // without them).
    let forged = forge(&lines, 1, |event| {
        event.decision = Effect::Deny;
        event.rule = "malformed-request".to_owned();
        event.output_labels = None;
        event.receipt = None;
        event.grant = event.grant.take().map(|g| agentk_flightlog::event::GrantRef {
            covering: false,
            hash: Hash32::default(),
            ..g
        });
    });
    agentk_flightlog::verify::verify_lines(forged.iter().map(String::as_str)).unwrap();
    let report = replay(joined(&forged).as_slice(), text, &policy, Acceptance::default()).unwrap();
    assert_eq!(report.divergences.total(), 1, "{:?}", report.steps.rows);
}

// guarantee: R1 (an oversized request whose kept prefix still matches a grant replays as it
// was decided: the kernel does not judge the grant of a request it records in bounded form)
#[test]
fn oversized_requests_on_a_grant_replay_as_recorded() {
    let text = Profile::Browser.source();
    let shop = |oversized: bool, oversized_agent: bool| Step { oversized, oversized_agent, ..Step::shaped(2) };
    let lines = session(text, true, 0, &[shop(true, false), shop(false, true), shop(false, false)]);
    let policy = Policy::parse("browser", text).unwrap();
    let report = replay(joined(&lines).as_slice(), text, &policy, Acceptance::default()).unwrap();
    assert!(report.reproduced_all(), "{:?}", report.divergences.rows);
    assert_eq!(report.blocked_by_rule.get("malformed-request"), Some(&2));
    assert_eq!(report.allowed, 1);
}

/// A session of explicit requests under `text`: (agent, syscall, target, input labels, the
/// index of an earlier request whose output the input is, grant).
type Explicit<'a> = (&'a str, &'a str, &'a str, LabelSet, Option<usize>, Option<&'a str>);

fn explicit_session(text: &str, requests: &[Explicit<'_>]) -> Vec<String> {
    let parts = Kernel::builder()
        .policy(text.into(), Arc::new(Policy::parse("explicit", text).unwrap()))
        .signer(Arc::new(SigningIdentity::from_secret(&REPLAY_TEST_KEY, SignerSource::Embedded)))
        .clock(SharedClock(Arc::new(AtomicU64::new(START))))
        .entropy(Counter(0))
        .log_id([0x43; 32])
        .origin("replay-test.example.invalid")
        .checkpoint_every(0);
    let mut kernel = parts.open_sink(MemoryLog::new()).unwrap();
    let salt = EvidenceSalt::from_bytes([0x05; 32]);
    let mut seqs = Vec::new();
    for (i, &(agent, syscall, target, labels, from, grant)) in requests.iter().enumerate() {
        let mut input = salt.input(labels, format!("dummy {i}").as_bytes());
        if let Some(k) = from {
            input = input.output_of(seqs[k]);
        }
        seqs.push(kernel.events());
        let inputs = [input];
        let request = SyscallRequest { agent, syscall: SyscallKind::parse(syscall), target, inputs: &inputs, grant };
        kernel.decide(&request).unwrap();
    }
    kernel.close().unwrap().lines().to_vec()
}

fn one_override(step: u64, syscall: &str, target: &str, labels: &[&str]) -> agentk_replay::overrides::Overrides {
    let file = serde_json::json!({"schema": "agentk.behavior-overrides.v1", "overrides": [{
        "step": step, "syscall": syscall, "target": target,
        "output_digest": blake3::hash(b"dummy changed output").to_hex().to_string(),
        "output_labels": labels,
    }]});
    agentk_replay::overrides::Overrides::parse(serde_json::to_string(&file).unwrap().as_bytes()).unwrap()
}

// guarantee: R3 (a changed upstream output replaces only what it gave its consumer: labels the
// consumer's input carried on its own stay)
#[test]
fn a_behavior_fork_keeps_the_consumers_own_labels() {
    let text = Profile::Starter.source();
    let private = LabelSet::of(agentk_labels::Label::Private);
    let lines = explicit_session(
        text,
        &[
            ("agent-1", "model.call", "model://m.example.invalid", LabelSet::EMPTY, None, None),
            ("agent-1", "network.send", "https://evil.example.invalid/c", private, Some(0), None),
        ],
    );
    let policy = Policy::parse("starter", text).unwrap();
    let overrides = one_override(1, "model.call", "model://m.example.invalid", &["untrusted"]);
    let report =
        agentk_replay::behavior_replay(joined(&lines).as_slice(), text, &policy, &overrides, Acceptance::default())
            .unwrap();
    // The send still carries `private` beside the new `untrusted`: still an egress deny.
    assert_eq!(report.changes.changed.total(), 0, "{:?}", report.changes.changed.rows);
    assert_eq!(report.outputs.total(), 2);
    assert_eq!(report.outputs.rows[1].cause, agentk_replay::Cause::Upstream { steps: vec![1] });
}

// guarantee: R3 (P7 holds in a fork: an override adds labels to an output, it cannot remove the
// ones the kernel propagated from its inputs)
#[test]
fn an_override_cannot_launder_propagated_labels() {
    let text = Profile::Starter.source();
    let secret = LabelSet::of(agentk_labels::Label::Secret);
    let lines = explicit_session(
        text,
        &[
            ("agent-1", "context.read", "memory://vault", secret, None, None),
            ("agent-1", "network.send", "https://evil.example.invalid/c", LabelSet::EMPTY, Some(0), None),
        ],
    );
    let policy = Policy::parse("starter", text).unwrap();
    let overrides = one_override(1, "context.read", "memory://vault", &[]);
    let report =
        agentk_replay::behavior_replay(joined(&lines).as_slice(), text, &policy, &overrides, Acceptance::default())
            .unwrap();
    assert_eq!(report.changes.changed.total(), 0, "{:?}", report.changes.changed.rows);
    assert!(report.outputs.rows[0].labels.is_some_and(|labels| labels.contains(agentk_labels::Label::Secret)));
}

// guarantee: R2 (transition counts stay bounded however many distinct rules a log names)
#[test]
fn fork_transitions_are_bounded() {
    let text = agentk_policy::testing::synthetic_policy(1100);
    let every_label = LabelSet::from_bits(0b11_1111).unwrap();
    let targets: Vec<(String, &str)> = (0..1100)
        .map(|i| {
            let syscall = agentk_labels::Syscall::ALL[i % agentk_labels::Syscall::ALL.len()].name();
            (format!("https://host-{i}.example.invalid/x"), syscall)
        })
        .collect();
    let requests: Vec<Explicit<'_>> = targets
        .iter()
        .map(|(target, syscall)| ("agent-1", *syscall, target.as_str(), every_label, None, None))
        .collect();
    let lines = explicit_session(&text, &requests);
    let starter = Profile::Starter.load().unwrap();
    let report = fork_replay(joined(&lines).as_slice(), &starter, Acceptance::default()).unwrap();
    let changes = &report.changes;
    assert_eq!(changes.transitions.len(), agentk_replay::MAX_LISTED);
    assert_eq!(changes.transitions.values().sum::<u64>() + changes.other_transitions, changes.changed.total());
    assert!(changes.other_transitions > 0);
    assert_eq!(changes.changed.rows.len(), agentk_replay::MAX_LISTED);
}

// guarantee: R1 (the fixture logs: the session and the frozen version 1 and 2 logs replay with every
// decision reproduced; a tampered one gives no report)
#[test]
fn fixture_logs_replay() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let policy = Profile::Starter.load().unwrap();
    for log in ["logs/session.jsonl", "compat/session-v1.jsonl", "compat/session-v2.jsonl"] {
        let file = std::fs::File::open(fixtures.join(log)).unwrap();
        let report = replay(file, Profile::Starter.source(), &policy, Acceptance::default()).unwrap();
        assert!(report.reproduced_all() && report.replayed > 0, "{log}");
    }
    let file = std::fs::File::open(fixtures.join("logs/flipped-deny.jsonl")).unwrap();
    let error = replay(file, Profile::Starter.source(), &policy, Acceptance::default()).unwrap_err();
    assert!(error.is_verification_failure(), "{error}");
}
