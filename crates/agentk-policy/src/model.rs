//! The validated policy: rules, their conditions, and operator grants.

use std::collections::BTreeMap;
use std::fmt;

use agentk_labels::{LabelSet, Syscall};
use serde::Serialize;

use crate::eval::Probe;
use crate::index::RuleIndex;
use crate::pattern::Pattern;

/// What a rule does when it fires, and what a decision was: the one allow-or-deny type of
/// AgentK (policies, kernel answers, flight-log events and reports all use it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The syscall may proceed.
    Allow,
    /// The syscall is refused.
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        })
    }
}

/// What a rule asks of the request's capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CapabilityCondition {
    /// The request presents an operator grant that covers its agent, syscall and target.
    Present,
    /// It does not.
    Missing,
}

/// A rule's conditions. Each one present must hold for the rule to match; an absent one holds
/// for every request. A rule with none at all is a catch-all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    pub(crate) syscalls: Option<Vec<Syscall>>,
    pub(crate) targets: Option<Vec<Pattern>>,
    pub(crate) agents: Option<Vec<Pattern>>,
    pub(crate) labels_any: Option<LabelSet>,
    pub(crate) labels_all: Option<LabelSet>,
    pub(crate) labels_none: Option<LabelSet>,
    pub(crate) capability: Option<CapabilityCondition>,
}

impl Conditions {
    /// The syscall must be one of these.
    pub fn syscalls(&self) -> Option<&[Syscall]> {
        self.syscalls.as_deref()
    }

    /// The target must match one of these patterns.
    pub fn targets(&self) -> Option<&[Pattern]> {
        self.targets.as_deref()
    }

    /// The agent id must match one of these patterns.
    pub fn agents(&self) -> Option<&[Pattern]> {
        self.agents.as_deref()
    }

    /// The data must carry at least one of these labels.
    pub fn labels_any(&self) -> Option<LabelSet> {
        self.labels_any
    }

    /// The data must carry all of these labels.
    pub fn labels_all(&self) -> Option<LabelSet> {
        self.labels_all
    }

    /// The data must carry none of these labels.
    pub fn labels_none(&self) -> Option<LabelSet> {
        self.labels_none
    }

    /// What the rule asks of the capability.
    pub fn capability(&self) -> Option<CapabilityCondition> {
        self.capability
    }

    /// Whether the label conditions hold for `labels`.
    pub(crate) fn labels_hold(&self, labels: LabelSet) -> bool {
        self.labels_any.is_none_or(|any| labels.intersects(any))
            && self.labels_all.is_none_or(|all| labels.is_superset(all))
            && self.labels_none.is_none_or(|none| !labels.intersects(none))
    }

    /// Bit `b` is set when the label conditions hold for the label set with bits `b`.
    pub(crate) fn label_table(&self) -> u64 {
        (0..LabelSet::COUNT as u8)
            .filter_map(LabelSet::from_bits)
            .filter(|&set| self.labels_hold(set))
            .fold(0, |table, set| table | 1 << set.bits())
    }

    /// Bit 0: holds without a capability; bit 1: holds with one.
    pub(crate) fn capability_table(&self) -> u8 {
        match self.capability {
            None => 0b11,
            Some(CapabilityCondition::Missing) => 0b01,
            Some(CapabilityCondition::Present) => 0b10,
        }
    }

    /// Bit `i` is set when the syscall with index `i` is allowed by `syscalls`.
    pub(crate) fn syscall_table(&self) -> u32 {
        match &self.syscalls {
            None => Syscall::ALL.iter().fold(0, |table, s| table | s.bit()),
            Some(list) => list.iter().fold(0, |table, s| table | s.bit()),
        }
    }
}

/// One ordered policy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub(crate) id: String,
    pub(crate) effect: Effect,
    pub(crate) reason: String,
    pub(crate) when: Conditions,
    pub(crate) line: usize,
    /// Byte offset of the start of the rule's first line, for diagnostics.
    pub(crate) offset: usize,
    // Precomputed from `when`, so evaluation is a few bit tests before any string work.
    pub(crate) syscall_table: u32,
    pub(crate) label_table: u64,
    pub(crate) capability_table: u8,
}

impl Rule {
    /// The rule's id, unique in its policy.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What it does when it fires.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Why, in the operator's words.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Its conditions.
    pub fn when(&self) -> &Conditions {
        &self.when
    }

    /// The line it starts on in its source.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Whether it matches every request.
    pub fn is_catch_all(&self) -> bool {
        self.syscall_table == Conditions::default().syscall_table()
            && self.label_table == u64::MAX
            && self.capability_table == 0b11
            && universal(self.when.targets())
            && universal(self.when.agents())
    }

    pub(crate) fn matches(&self, probe: &Probe<'_>) -> bool {
        self.syscall_table & probe.syscall.bit() != 0
            && self.label_table >> probe.labels.bits() & 1 != 0
            && self.capability_table >> u8::from(probe.capability) & 1 != 0
            && any_matches(self.when.targets(), probe.target)
            && any_matches(self.when.agents(), probe.agent)
    }

    pub(crate) fn new(
        id: String,
        effect: Effect,
        reason: String,
        when: Conditions,
        line: usize,
        offset: usize,
    ) -> Self {
        Rule {
            offset,
            syscall_table: when.syscall_table(),
            label_table: when.label_table(),
            capability_table: when.capability_table(),
            id,
            effect,
            reason,
            when,
            line,
        }
    }
}

fn universal(patterns: Option<&[Pattern]>) -> bool {
    patterns.is_none_or(|list| list.iter().any(Pattern::is_universal))
}

fn any_matches(patterns: Option<&[Pattern]>, text: &str) -> bool {
    patterns.is_none_or(|list| list.iter().any(|p| p.matches(text)))
}

/// An operator grant: a capability the operator is willing to issue. A request can only present
/// a grant by id; it can never define one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub(crate) id: String,
    pub(crate) agents: Vec<Pattern>,
    pub(crate) syscall: Syscall,
    pub(crate) target: Pattern,
    pub(crate) scope: String,
    pub(crate) uses: u32,
    pub(crate) ttl_seconds: u64,
    pub(crate) line: usize,
}

impl Grant {
    /// The grant's id, unique in its policy.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Agents it may be issued to.
    pub fn agents(&self) -> &[Pattern] {
        &self.agents
    }

    /// The one syscall it covers.
    pub fn syscall(&self) -> Syscall {
        self.syscall
    }

    /// Targets it covers.
    pub fn target(&self) -> &Pattern {
        &self.target
    }

    /// The scope receipts minted from it carry.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// How many receipts may be minted from it.
    pub fn uses(&self) -> u32 {
        self.uses
    }

    /// How long a receipt minted from it lives.
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// The line it starts on in its source.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Whether it covers `agent` doing `syscall` on `target`.
    pub fn covers(&self, agent: &str, syscall: Syscall, target: &str) -> bool {
        self.syscall == syscall && self.target.matches(target) && self.agents.iter().any(|p| p.matches(agent))
    }
}

/// A validated policy. Only [`Policy::parse`] (and the built-in profiles, which go through it)
/// can build one, so every `Policy` has passed validation (P5).
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) grant_index: BTreeMap<String, usize>,
    pub(crate) index: RuleIndex,
    pub(crate) tools: Vec<ToolRule>,
}

impl Policy {
    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy's description, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The operator grants.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The grant with this id.
    pub fn grant(&self, id: &str) -> Option<&Grant> {
        self.grant_index.get(id).and_then(|&i| self.grants.get(i))
    }

    /// The first grant that covers `agent` doing `syscall` on `target`.
    pub fn covering_grant(&self, agent: &str, syscall: Syscall, target: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.covers(agent, syscall, target))
    }

    /// The operator's classes of MCP tools (`[[tools]]`), in order.
    pub fn tool_rules(&self) -> &[ToolRule] {
        &self.tools
    }

    /// The class the operator gave the tool `tool` of the MCP server `server` (the first
    /// `[[tools]]` entry whose server and name patterns match), if any.
    pub fn tool_class(&self, server: &str, tool: &str) -> Option<&ToolRule> {
        self.tools.iter().find(|t| t.server.matches(server) && t.names.iter().any(|n| n.matches(tool)))
    }

    pub(crate) fn new(
        name: String,
        description: Option<String>,
        rules: Vec<Rule>,
        grants: Vec<Grant>,
        tools: Vec<ToolRule>,
    ) -> Self {
        let index = RuleIndex::new(&rules);
        let grant_index = grants.iter().enumerate().map(|(i, g)| (g.id.clone(), i)).collect();
        Policy { name, description, rules, grants, grant_index, index, tools }
    }
}

/// What calling an MCP tool does to the world, from least to most dangerous as a sink of
/// injected instructions. The MCP mediator gives every tool a class: from the policy's
/// `[[tools]]` first, else from the annotations of its pinned descriptor, else
/// [`ToolClass::Write`] (an unannotated tool is taken to have side effects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolClass {
    /// Reads only (`readOnlyHint: true`): no side effect of its own.
    Read,
    /// Creates or changes something.
    Write,
    /// Deletes or overwrites something (`destructiveHint: true`).
    Delete,
    /// Runs code or commands.
    Execute,
    /// Sends something to someone (mail, messages, posts, uploads).
    Send,
    /// Spends money or another budget (payments, transfers, purchases).
    Spend,
}

impl ToolClass {
    /// Every class.
    pub const ALL: [ToolClass; 6] =
        [ToolClass::Read, ToolClass::Write, ToolClass::Delete, ToolClass::Execute, ToolClass::Send, ToolClass::Spend];

    /// The class's name, as a policy writes it.
    pub const fn name(self) -> &'static str {
        match self {
            ToolClass::Read => "read",
            ToolClass::Write => "write",
            ToolClass::Delete => "delete",
            ToolClass::Execute => "execute",
            ToolClass::Send => "send",
            ToolClass::Spend => "spend",
        }
    }

    /// The class named `name`.
    pub fn from_name(name: &str) -> Option<ToolClass> {
        ToolClass::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether calling a tool of this class has side effects (every class but `read`).
    pub const fn has_side_effects(self) -> bool {
        !matches!(self, ToolClass::Read)
    }

    /// Whether a tool of this class reaches outside the agent's own world by its nature
    /// (`send` and `spend`); for the others it depends on the tool.
    pub const fn always_open_world(self) -> bool {
        matches!(self, ToolClass::Send | ToolClass::Spend)
    }
}

impl fmt::Display for ToolClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[[tools]]` entry: the class of the tools of the servers it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolRule {
    pub(crate) server: Pattern,
    pub(crate) names: Vec<Pattern>,
    pub(crate) class: ToolClass,
    pub(crate) open_world: Option<bool>,
    pub(crate) line: usize,
}

impl ToolRule {
    /// The server ids it applies to.
    pub fn server(&self) -> &Pattern {
        &self.server
    }

    /// The tool names it applies to.
    pub fn names(&self) -> &[Pattern] {
        &self.names
    }

    /// The class it gives them.
    pub fn class(&self) -> ToolClass {
        self.class
    }

    /// Whether they reach outside the agent's own world, when the entry says (`open_world`);
    /// `send` and `spend` always do.
    pub fn open_world(&self) -> Option<bool> {
        if self.class.always_open_world() { Some(true) } else { self.open_world }
    }

    /// The line of the entry in the policy file.
    pub fn line(&self) -> usize {
        self.line
    }
}
