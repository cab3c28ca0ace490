//! The poisoned-web-page demo: an agent reads a page that hides instructions, and the kernel
//! decides each action it then attempts. It only decides: nothing is read, sent or opened, and
//! every target is an `example.invalid` name (A2).

use std::io::Write;

use agentk_labels::{Label, LabelSet, Outcome, SafeText, Syscall, SyscallKind, propagate};
use agentk_policy::{Explanation, Policy, Request};
use serde::Serialize;

use crate::{CliError, exit};

const AGENT: &str = "demo-agent";

/// One attempted action.
struct Step {
    story: &'static str,
    syscall: Syscall,
    target: &'static str,
    labels: LabelSet,
    grant: Option<&'static str>,
}

#[derive(Serialize)]
struct StepReport<'a> {
    step: usize,
    story: &'a str,
    #[serde(flatten)]
    explanation: &'a Explanation,
}

/// The flow. Labels are not typed in by hand: each step's input is the propagated output of
/// the steps it consumes, which is how taint reaches the later, dangerous requests (P7).
fn steps() -> Vec<Step> {
    let page_source = LabelSet::from_labels(&[Label::Untrusted, Label::External]);
    let page = propagate(&SyscallKind::Known(Syscall::ContextRead), page_source, Outcome::Ok);
    let notes = LabelSet::of(Label::Private);
    let summary = propagate(&SyscallKind::Known(Syscall::ModelCall), page | notes, Outcome::Ok);
    vec![
        Step {
            story: "the agent reads a news page that hides instructions in white-on-white text",
            syscall: Syscall::ContextRead,
            target: "https://news.example.invalid/article",
            labels: page_source,
            grant: None,
        },
        Step {
            story: "the model summarises the page together with the user's private notes",
            syscall: Syscall::ModelCall,
            target: "model://assistant.example.invalid/default",
            labels: page | notes,
            grant: None,
        },
        Step {
            story: "the hidden instructions ask for the payments API key",
            syscall: Syscall::SecretOpen,
            target: "secret://payments-api",
            labels: summary,
            grant: None,
        },
        Step {
            story: "they ask to post the notes to the attacker's collector",
            syscall: Syscall::NetworkSend,
            target: "https://evil.example.invalid/collect",
            labels: summary,
            grant: None,
        },
        Step {
            story: "they ask to run the docs search tool with the summary, presenting a real grant",
            syscall: Syscall::ToolInvoke,
            target: "mcp://docs.example.invalid/search",
            labels: summary,
            grant: Some("demo-docs-search"),
        },
    ]
}

pub(crate) fn run(policy: &Policy, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let steps = steps();
    let explained: Vec<Explanation> = steps
        .iter()
        .map(|step| {
            let mut request = Request::new(AGENT, step.syscall, step.target).with_labels(step.labels);
            if let Some(grant) = step.grant {
                request = request.presenting(grant);
            }
            policy.evaluate(&request).explain(&request)
        })
        .collect();
    let allowed = explained.iter().filter(|e| e.decision == agentk_policy::Effect::Allow).count();
    let denied = explained.len() - allowed;
    if json {
        let reports: Vec<StepReport<'_>> = steps
            .iter()
            .zip(&explained)
            .enumerate()
            .map(|(i, (step, explanation))| StepReport { step: i + 1, story: step.story, explanation })
            .collect();
        let value = serde_json::json!({
            "schema": "agentk.demo.v1",
            "policy": policy.name(),
            "steps": reports,
            "allowed": allowed,
            "denied": denied,
        });
        writeln!(out, "{value}")?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "AgentK demo: a poisoned web page tries to steer an agent (policy {})",
        SafeText::new(policy.name())
    )?;
    for (i, (step, explanation)) in steps.iter().zip(&explained).enumerate() {
        writeln!(out, "\nstep {}: {}", i + 1, step.story)?;
        for line in explanation.to_string().lines() {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out, "\n{allowed} allowed, {denied} denied. Nothing was read, sent or opened: the demo only decides.")?;
    Ok(exit::OK)
}
