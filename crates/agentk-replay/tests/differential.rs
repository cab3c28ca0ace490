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
use agentk_flightlog::event::{EventBody, EventLine, Hash32, Verdict};
use agentk_flightlog::kernel::{Clock, Entropy, EvidenceSalt, Kernel, KernelParts, MemoryLog, SyscallRequest};
use agentk_labels::{LabelSet, SyscallKind};
use agentk_policy::{Policy, Profile};
use agentk_replay::{Options, fork_replay, replay};
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
const GRANTS: [&str; 11] = [
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
    oversized: bool,
    /// Shape the request to this grant (index into [`SHAPES`]), usually with clean labels.
    shaped: Option<usize>,
    /// Seconds to move the clock (may step back).
    clock: i64,
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
    )
        .prop_map(|(agent, syscall, target, labels, grant, from, oversized, clock, shaped)| Step {
            agent,
            syscall,
            target,
            labels,
            grant,
            from,
            oversized,
            clock,
            shaped,
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
    let parts = KernelParts {
        policy_text: text.into(),
        policy: Arc::new(policy),
        signer: Arc::new(SigningIdentity::from_secret(&REPLAY_TEST_KEY, SignerSource::Embedded)),
        broker: Some(Arc::new(broker)),
        clock: Box::new(SharedClock(Arc::clone(&clock))),
        entropy: Box::new(Counter(0)),
        log_id: [0x42; 32],
        origin: "replay-test.example.invalid".to_owned(),
        checkpoint_every,
    };
    let mut kernel = Kernel::open(parts, MemoryLog::new()).unwrap();
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
        let target = if s.oversized { long.as_str() } else { target };
        let request = SyscallRequest { agent, syscall: SyscallKind::parse(syscall), target, inputs: &inputs, grant };
        let seq = kernel.events();
        let outcome = kernel.syscall(&request).unwrap();
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
        let report = replay(joined(&lines).as_slice(), &text, &policy, Options::default()).unwrap();
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
            let wants = event.decision == Verdict::Allow
                && ["model.call", "tool.invoke", "network.send"].contains(&event.syscall.as_str());
            let expected: Option<Hash32> = wants.then(|| agentk_replay::stub_output(hash));
            prop_assert_eq!(row.stub_output, expected);
            stubbed += u64::from(wants);
        }
        prop_assert_eq!(report.stubbed, stubbed);

        // guarantee: R2 (a fork against the log's own policy changes nothing)
        let fork = fork_replay(joined(&lines).as_slice(), &policy, Options::default()).unwrap();
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
    let deny = Step {
        agent: 0,
        syscall: 5,
        target: 8,
        labels: LabelSet::of(agentk_labels::Label::Private).bits(),
        grant: None,
        from: None,
        oversized: false,
        shaped: None,
        clock: 1,
    };
    let lines = session(text, true, 2, &[deny.clone(), deny.clone(), deny]);
    let policy = Policy::parse("starter", text).unwrap();
    assert!(replay(joined(&lines).as_slice(), text, &policy, Options::default()).unwrap().reproduced_all());
    let target_seq = 2;
    let forged = forge(&lines, target_seq, |event| event.rule = "egress-needs-grant".to_owned());
    assert_ne!(forged, lines);
    agentk_flightlog::verify::verify_lines(forged.iter().map(String::as_str)).unwrap();
    let report = replay(joined(&forged).as_slice(), text, &policy, Options::default()).unwrap();
    assert!(!report.reproduced_all());
    assert_eq!(report.divergences.total(), 1);
    let divergence = &report.divergences.rows[0];
    assert_eq!(divergence.site.step, target_seq as u64);
    assert_eq!(divergence.differs, ["rule"]);
    assert_eq!(divergence.recorded.key(), "deny:egress-needs-grant");
    assert_eq!(divergence.replayed.key(), "deny:egress-sensitive-data");

    // Flipping the deny to an allow (no receipt needed without a grant) is caught the same way.
    let flipped = forge(&lines, target_seq, |event| {
        event.decision = Verdict::Allow;
        event.output_labels = Some(LabelSet::of(agentk_labels::Label::Private));
    });
    agentk_flightlog::verify::verify_lines(flipped.iter().map(String::as_str)).unwrap();
    let report = replay(joined(&flipped).as_slice(), text, &policy, Options::default()).unwrap();
    assert_eq!(report.divergences.rows[0].differs, ["decision", "output_labels"]);
}
