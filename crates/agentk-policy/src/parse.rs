//! Reading and validating a policy file (guarantee P5).
//!
//! The TOML is parsed into a spanned document tree and walked by hand rather than through
//! serde, so that *every* problem (each unknown key, each bad value, each dead rule) is
//! reported with its position, not only the first one serde would stop at.

use std::collections::BTreeMap;
use std::ops::Range;

use agentk_labels::{LabelSet, SafeText, Syscall};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use agentk_labels::LineIndex;

use crate::diag::{Contradiction, Diagnostic, DiagnosticKind, KeyPath};
use crate::model::{CapabilityCondition, Conditions, Effect, Grant, Policy, Rule, ToolClass, ToolRule};
use crate::pattern::Pattern;

/// The largest policy text accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

const ROOT_KEYS: &[&str] = &["version", "name", "description", "grants", "tools", "rules"];
const RULE_KEYS: &[&str] = &["id", "effect", "reason", "when"];
const WHEN_KEYS: &[&str] = &["syscalls", "targets", "agents", "labels_any", "labels_all", "labels_none", "capability"];
const GRANT_KEYS: &[&str] = &["id", "agents", "syscall", "target", "scope", "uses", "ttl_seconds"];
const TOOL_KEYS: &[&str] = &["server", "names", "class", "open_world"];

/// The rule ids the kernel uses for its own denies (a malformed request, a secret no store can
/// open, a spent grant budget, a receipt that cannot be minted, a target its front end
/// withholds). No policy
/// rule may take them, so a recorded rule always says which of the two decided.
pub const KERNEL_RULE_IDS: [&str; 5] =
    ["malformed-request", "secret-unavailable", "grant-exhausted", "receipt-unavailable", "withheld"];

/// The id reserved for the final catch-all deny and for the built-in deny of unknown syscalls.
pub const DEFAULT_DENY: &str = "default-deny";

const MAX_NAME_CHARS: usize = 64;
const MAX_REASON_CHARS: usize = 512;
const MAX_DESCRIPTION_CHARS: usize = 2048;
const MAX_USES: u64 = 1_000_000;
const MAX_TTL_SECONDS: u64 = 30 * 24 * 60 * 60;

type Value<'i> = Spanned<DeValue<'i>>;

/// A string value and where it is.
type Located<'t> = (&'t str, Range<usize>);

pub(crate) fn parse(source: &str) -> Result<Policy, Vec<Diagnostic>> {
    let mut cx =
        Cx { source, lines: LineIndex::new(source), diagnostics: Vec::new(), hidden: 0, budget: SHADOW_BUDGET };
    if source.len() > MAX_POLICY_BYTES {
        cx.report(0..0, DiagnosticKind::TooLarge { len: source.len(), max: MAX_POLICY_BYTES });
        return Err(cx.diagnostics);
    }
    let (document, errors) = DeTable::parse_recoverable(source);
    if !errors.is_empty() {
        for error in errors {
            let detail = error.message().trim_end_matches('\n').replace('\n', "; ");
            cx.report(error.span().unwrap_or(0..0), DiagnosticKind::Syntax { detail });
        }
        return Err(cx.finish());
    }
    let policy = cx.document(document.get_ref());
    match policy {
        Some(policy) if cx.diagnostics.is_empty() => Ok(policy),
        _ => Err(cx.finish()),
    }
}

struct Cx<'s> {
    source: &'s str,
    lines: LineIndex<'s>,
    diagnostics: Vec<Diagnostic>,
    /// Problems found beyond [`MAX_DIAGNOSTICS`].
    hidden: usize,
    /// Pattern-comparison work left for the dead-rule analysis.
    budget: u64,
}

/// The most problems reported for one policy; the rest are counted.
const MAX_DIAGNOSTICS: usize = 100;
/// The most rules, and the most grants, a policy may hold.
pub(crate) const MAX_RULES: usize = 4096;
/// Matching steps the dead-rule analysis may spend comparing patterns. Ordinary policies use a
/// tiny fraction; a policy that needs more is refused rather than accepted unchecked.
const SHADOW_BUDGET: u64 = 64 << 20;

/// A rule as read, before the whole-policy checks.
struct DraftRule {
    id: Option<(String, Range<usize>)>,
    span: Range<usize>,
    rule: Option<Rule>,
}

impl Cx<'_> {
    /// The diagnostics in source order, with a final count of any not shown.
    fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| (d.span().start, d.span().end));
        if self.hidden > 0 {
            let end = self.source.len();
            let hidden = self.hidden;
            self.diagnostics.push(Diagnostic::new(&self.lines, end..end, DiagnosticKind::MoreProblems { hidden }));
        }
        self.diagnostics
    }

    fn report(&mut self, span: Range<usize>, kind: DiagnosticKind) {
        if self.diagnostics.len() < MAX_DIAGNOSTICS {
            self.diagnostics.push(Diagnostic::new(&self.lines, span, kind));
        } else {
            self.hidden += 1;
        }
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.lines.line(span.start)
    }

    fn document(&mut self, root: &DeTable<'_>) -> Option<Policy> {
        let _ = self.check_keys(root, "policy", ROOT_KEYS);
        let whole = 0..0;
        let version = self.integer(root, &whole, "", "version", true);
        if let Some((version, span)) = version
            && version != 1
        {
            self.report(span, DiagnosticKind::UnsupportedVersion { found: SafeText::new(&version.to_string()) });
        }
        let name = self.text(root, &whole, "", "name", MAX_NAME_CHARS, true);
        let description = self.text(root, &whole, "", "description", MAX_DESCRIPTION_CHARS, false);
        let grants = self.grants(root);
        let tools = self.tools(root);
        let rules = self.rules(root);
        Some(Policy::new(name?, description, rules?, grants?, tools?))
    }

    /// The `[[tools]]` entries: which class the operator gives which MCP tools.
    fn tools(&mut self, root: &DeTable<'_>) -> Option<Vec<ToolRule>> {
        let Some(list) = self.tables(root, "tools", false) else {
            return find(root, "tools").is_none().then(Vec::new);
        };
        if list.len() > MAX_RULES {
            let at = find(root, "tools").map_or(0..0, Spanned::span);
            self.report(at, DiagnosticKind::TooMany { what: "tool entries", max: MAX_RULES });
            return None;
        }
        let mut tools = Vec::new();
        let mut complete = true;
        for (index, (table, span)) in list.into_iter().enumerate() {
            let path = format!("tools[{index}]");
            let known = self.check_keys(table, &path, TOOL_KEYS);
            let server = self.pattern(table, &span, &path, "server");
            let names: Option<Vec<Pattern>> = self.patterns(table, &span, &path, "names", true);
            let class = self.string(table, &span, &path, "class", true).and_then(|(name, at)| {
                let class = ToolClass::from_name(name);
                if class.is_none() {
                    self.report(at, DiagnosticKind::InvalidToolClass { found: SafeText::new(name) });
                }
                class
            });
            let open_world = self.boolean(table, &path, "open_world");
            match (known, server, names, class, open_world) {
                (true, Some(server), Some(names), Some(class), Some(open_world)) => {
                    tools.push(ToolRule { server, names, class, open_world, line: self.line(&span) });
                }
                _ => complete = false,
            }
        }
        complete.then_some(tools)
    }

    /// An optional boolean: `Some(None)` when absent, `None` when it is not a boolean.
    fn boolean(&mut self, table: &DeTable<'_>, path: &str, key: &'static str) -> Option<Option<bool>> {
        let Some(value) = find(table, key) else { return Some(None) };
        match value.get_ref() {
            DeValue::Boolean(b) => Some(Some(*b)),
            _ => {
                self.wrong_type(&join(path, key), value, "true or false");
                None
            }
        }
    }

    fn grants(&mut self, root: &DeTable<'_>) -> Option<Vec<Grant>> {
        let Some(list) = self.tables(root, "grants", false) else {
            // Absent is fine; a wrong shape has been reported.
            return find(root, "grants").is_none().then(Vec::new);
        };
        if list.len() > MAX_RULES {
            let at = find(root, "grants").map_or(0..0, Spanned::span);
            self.report(at, DiagnosticKind::TooMany { what: "grants", max: MAX_RULES });
            return None;
        }
        let mut grants = Vec::new();
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        let mut complete = true;
        for (index, (table, span)) in list.into_iter().enumerate() {
            let path = format!("grants[{index}]");
            let grant = self.grant(table, &span, &path);
            if let Some(grant) = &grant {
                if let Some(&first_line) = ids.get(&grant.id) {
                    self.report(
                        span.clone(),
                        DiagnosticKind::DuplicateId { what: "grant", id: SafeText::new(&grant.id), first_line },
                    );
                } else {
                    ids.insert(grant.id.clone(), grant.line);
                }
            }
            match grant {
                Some(grant) => grants.push(grant),
                None => complete = false,
            }
        }
        complete.then_some(grants)
    }

    fn grant(&mut self, table: &DeTable<'_>, span: &Range<usize>, path: &str) -> Option<Grant> {
        let known = self.check_keys(table, path, GRANT_KEYS);
        let id = self.id(table, span, path, "grant");
        let agents = self.patterns(table, span, path, "agents", true);
        let syscall = self.syscall(table, span, path);
        let target = self.pattern(table, span, path, "target");
        let scope = self.scope(table, span, path);
        let uses = self.bounded(table, span, path, "uses", MAX_USES);
        let ttl_seconds = self.bounded(table, span, path, "ttl_seconds", MAX_TTL_SECONDS);
        let (id, syscall, target) = (id?, syscall?, target?);
        if !known {
            return None;
        }
        if syscall == Syscall::SecretOpen && !target.is_exact() {
            self.report(span.clone(), DiagnosticKind::SecretGrantNotExact { grant: SafeText::new(&id.0) });
        }
        Some(Grant {
            id: id.0,
            agents: agents?,
            syscall,
            target,
            scope: scope?,
            uses: u32::try_from(uses?).ok()?,
            ttl_seconds: ttl_seconds?,
            line: self.line(span),
        })
    }

    fn rules(&mut self, root: &DeTable<'_>) -> Option<Vec<Rule>> {
        let list = self.tables(root, "rules", true)?;
        if list.len() > MAX_RULES {
            let at = find(root, "rules").map_or(0..0, Spanned::span);
            self.report(at, DiagnosticKind::TooMany { what: "rules", max: MAX_RULES });
            return None;
        }
        let drafts: Vec<DraftRule> = list
            .into_iter()
            .enumerate()
            .map(|(index, (table, span))| {
                let path = format!("rules[{index}]");
                self.rule(table, span, &path)
            })
            .collect();
        self.check_rule_ids(&drafts);
        self.check_catch_all(&drafts, root);
        let complete = drafts.iter().all(|d| d.rule.is_some());
        let rules: Vec<Rule> = drafts.into_iter().filter_map(|d| d.rule).collect();
        self.check_contradictions_and_shadows(&rules);
        if complete {
            self.check_allows_everything(&rules);
        }
        complete.then_some(rules)
    }

    fn rule(&mut self, table: &DeTable<'_>, span: Range<usize>, path: &str) -> DraftRule {
        let known = self.check_keys(table, path, RULE_KEYS);
        let id = self.id(table, &span, path, "rule");
        let effect = self.effect(table, &span, path);
        let reason = self.text(table, &span, path, "reason", MAX_REASON_CHARS, true);
        let when = match find(table, "when") {
            None => Some(Conditions::default()),
            Some(value) => self.when(value, &format!("{path}.when"), id.as_ref().map(|i| i.0.as_str())),
        };
        let rule = match (&id, effect, reason, when) {
            (Some((id, _)), Some(effect), Some(reason), Some(when)) if known => {
                Some(Rule::new(id.clone(), effect, reason, when, self.line(&span), self.lines.line_start(span.start)))
            }
            _ => None,
        };
        DraftRule { id, span, rule }
    }

    fn when(&mut self, value: &Value<'_>, path: &str, rule: Option<&str>) -> Option<Conditions> {
        let span = value.span();
        let DeValue::Table(table) = value.get_ref() else {
            self.wrong_type(path, value, "a table");
            return None;
        };
        if table.is_empty() {
            self.report(span, DiagnosticKind::EmptyWhen { rule: SafeText::new(rule.unwrap_or("?")) });
            return None;
        }
        let known = self.check_keys(table, path, WHEN_KEYS);
        let syscalls = self.syscall_list(table, &span, path);
        let targets = self.patterns(table, &span, path, "targets", false);
        let agents = self.patterns(table, &span, path, "agents", false);
        let labels_any = self.labels(table, &span, path, "labels_any");
        let labels_all = self.labels(table, &span, path, "labels_all");
        let labels_none = self.labels(table, &span, path, "labels_none");
        let capability = self.capability(table, path);
        let syscalls = syscalls?;
        if !known {
            return None;
        }
        Some(Conditions {
            syscalls,
            targets: targets?,
            agents: agents?,
            labels_any: labels_any?,
            labels_all: labels_all?,
            labels_none: labels_none?,
            capability: capability?,
        })
    }

    fn check_rule_ids(&mut self, drafts: &[DraftRule]) {
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        let last = drafts.len().saturating_sub(1);
        for (index, draft) in drafts.iter().enumerate() {
            let Some((id, id_span)) = &draft.id else {
                continue;
            };
            if let Some(&first_line) = first.get(id.as_str()) {
                self.report(
                    id_span.clone(),
                    DiagnosticKind::DuplicateId { what: "rule", id: SafeText::new(id), first_line },
                );
            } else {
                first.insert(id, self.line(&draft.span));
            }
            let final_deny =
                index == last && draft.rule.as_ref().is_some_and(|r| r.is_catch_all() && r.effect == Effect::Deny);
            if id == DEFAULT_DENY && !final_deny && draft.rule.is_some() {
                self.report(id_span.clone(), DiagnosticKind::ReservedId { id: SafeText::new(id) });
            }
            if KERNEL_RULE_IDS.contains(&id.as_str()) {
                self.report(id_span.clone(), DiagnosticKind::KernelRuleId { id: SafeText::new(id) });
            }
        }
    }

    fn check_contradictions_and_shadows(&mut self, rules: &[Rule]) {
        for (j, rule) in rules.iter().enumerate() {
            let at = self.rule_span(rule);
            if rule.label_table == 0 {
                let when = &rule.when;
                let all_none =
                    when.labels_all.unwrap_or(LabelSet::EMPTY).meet(when.labels_none.unwrap_or(LabelSet::EMPTY));
                let conflict = if all_none.is_empty() {
                    Contradiction::AnyInsideNone(when.labels_any.unwrap_or(LabelSet::EMPTY))
                } else {
                    Contradiction::AllAndNone(all_none)
                };
                self.report(at, DiagnosticKind::Contradictory { rule: SafeText::new(&rule.id), conflict });
                continue;
            }
            // Earlier rules that match every target and agent this rule matches. Among them,
            // one that also covers its syscalls, labels and capability shadows it alone; if
            // none does, together they may still cover every cell it matches.
            let mut union = [0u128; Syscall::ALL.len()];
            let mut shadow = None;
            let mut coverers = 0;
            for earlier in rules.iter().take(j).filter(|e| !e.is_catch_all()) {
                // A rule that shares no syscall, label set or capability state with this one
                // can neither shadow it nor help to.
                if earlier.syscall_table & rule.syscall_table == 0
                    || earlier.label_table & rule.label_table == 0
                    || earlier.capability_table & rule.capability_table == 0
                {
                    continue;
                }
                let (wide_targets, wide_agents) = (earlier.when.targets(), earlier.when.agents());
                let Some(targets) = self.patterns_cover(wide_targets, rule.when.targets()) else {
                    self.report(at.clone(), DiagnosticKind::TooComplex);
                    return;
                };
                let Some(agents) = self.patterns_cover(wide_agents, rule.when.agents()) else {
                    self.report(at.clone(), DiagnosticKind::TooComplex);
                    return;
                };
                if !(targets && agents) {
                    continue;
                }
                if covers_cells(earlier, rule) {
                    shadow = Some(earlier);
                    break;
                }
                coverers += 1;
                for (slot, syscall) in union.iter_mut().zip(Syscall::ALL) {
                    if earlier.syscall_table & syscall.bit() != 0 {
                        *slot |= cells(earlier);
                    }
                }
            }
            if let Some(earlier) = shadow {
                self.report(
                    at,
                    DiagnosticKind::Shadowed {
                        rule: SafeText::new(&rule.id),
                        by: SafeText::new(&earlier.id),
                        by_line: earlier.line,
                    },
                );
            } else if coverers > 1 && !rule.is_catch_all() && covered_by(&union, rule) {
                self.report(at, DiagnosticKind::ShadowedByUnion { rule: SafeText::new(&rule.id), by: coverers });
            }
        }
    }

    /// Refuses a policy that allows every request to a target and agent no rule names, whatever
    /// the syscall, labels or grant: a default-allow spelled as several rules (say, one allow
    /// for `capability = "present"` and one for `"missing"`). Exact: it replays first-match over
    /// all 18 x 64 x 2 syscall, label-set and capability cells with the rules that match every
    /// target and agent.
    fn check_allows_everything(&mut self, rules: &[Rule]) {
        if rules.iter().any(|r| r.is_catch_all() && r.effect == Effect::Allow) {
            return; // Reported as `catch-all-allows` already.
        }
        let universal: Vec<&Rule> = rules
            .iter()
            .filter(|r| universal_patterns(r.when.targets()) && universal_patterns(r.when.agents()))
            .collect();
        let allows_every_cell = Syscall::ALL.iter().all(|syscall| {
            (0..LabelSet::COUNT).all(|labels| {
                [0u8, 1].into_iter().all(|capability| {
                    universal
                        .iter()
                        .find(|r| {
                            r.syscall_table & syscall.bit() != 0
                                && r.label_table >> labels & 1 != 0
                                && r.capability_table >> capability & 1 != 0
                        })
                        .is_some_and(|r| r.effect == Effect::Allow)
                })
            })
        });
        if allows_every_cell && let Some(last) = rules.last() {
            self.report(self.rule_span(last), DiagnosticKind::AllowsEverything);
        }
    }

    /// Whether every string `narrow` matches is matched by `wide` (sound, see
    /// [`Pattern::subsumes`]); `None` when the work budget ran out.
    fn patterns_cover(&mut self, wide: Option<&[Pattern]>, narrow: Option<&[Pattern]>) -> Option<bool> {
        let (wide, narrow) = match (wide, narrow) {
            (None, _) => return Some(true),
            (Some(wide), None) => return Some(wide.iter().any(Pattern::is_universal)),
            (Some(wide), Some(narrow)) => (wide, narrow),
        };
        for n in narrow {
            let mut found = false;
            for w in wide {
                if w.subsumes_within(n, &mut self.budget)? {
                    found = true;
                    break;
                }
            }
            if !found {
                return Some(false);
            }
        }
        Some(true)
    }

    /// Catch-all checks. They need only the rules that were read; a rule that failed to read is
    /// skipped (it has its own diagnostic), and the ending is judged only if the last rule read.
    fn check_catch_all(&mut self, drafts: &[DraftRule], root: &DeTable<'_>) {
        for (index, draft) in drafts.iter().enumerate() {
            let Some(rule) = draft.rule.as_ref().filter(|r| r.is_catch_all()) else {
                continue;
            };
            let unreachable = drafts.len() - index - 1;
            if unreachable > 0 {
                self.report(
                    self.rule_span(rule),
                    DiagnosticKind::CatchAllNotLast { rule: SafeText::new(&rule.id), unreachable },
                );
            }
            if rule.effect == Effect::Allow {
                self.report(self.rule_span(rule), DiagnosticKind::CatchAllAllows { rule: SafeText::new(&rule.id) });
            }
        }
        match drafts.last() {
            None => {
                let at = find(root, "rules").map_or(0..0, Spanned::span);
                self.report(at, DiagnosticKind::MissingCatchAll);
            }
            Some(DraftRule { rule: Some(last), .. }) if !last.is_catch_all() => {
                self.report(self.rule_span(last), DiagnosticKind::MissingCatchAll);
            }
            Some(_) => {}
        }
    }

    /// A span at the start of the rule's line, for rule-level diagnostics.
    fn rule_span(&self, rule: &Rule) -> Range<usize> {
        rule.offset..rule.offset
    }

    // ---- Typed field readers. Each reports its own problems and returns None on any. ----

    /// Reports every key not in `allowed`; answers whether all were known.
    fn check_keys(&mut self, table: &DeTable<'_>, path: &str, allowed: &'static [&'static str]) -> bool {
        let mut all_known = true;
        for (key, _) in table.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                self.report(
                    key.span(),
                    DiagnosticKind::UnknownKey {
                        table: KeyPath(path.to_owned()),
                        key: SafeText::new(key.get_ref()),
                        expected: allowed,
                    },
                );
                all_known = false;
            }
        }
        all_known
    }

    fn wrong_type(&mut self, path: &str, value: &Value<'_>, expected: &'static str) {
        self.report(
            value.span(),
            DiagnosticKind::WrongType { key: KeyPath(path.to_owned()), expected, found: value.get_ref().type_str() },
        );
    }

    fn required<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        span: &Range<usize>,
        path: &str,
        key: &'static str,
        required: bool,
    ) -> Option<&'t Value<'i>> {
        let value = find(table, key);
        if value.is_none() && required {
            let table_path = if path.is_empty() { "policy" } else { path };
            self.report(span.clone(), DiagnosticKind::MissingKey { table: KeyPath(table_path.to_owned()), key });
        }
        value
    }

    fn string<'t>(
        &mut self,
        table: &'t DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        key: &'static str,
        required: bool,
    ) -> Option<(&'t str, Range<usize>)> {
        let value = self.required(table, span, path, key, required)?;
        match value.get_ref() {
            DeValue::String(text) => Some((text.as_ref(), value.span())),
            _ => {
                self.wrong_type(&join(path, key), value, "a string");
                None
            }
        }
    }

    fn text(
        &mut self,
        table: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        key: &'static str,
        max: usize,
        required: bool,
    ) -> Option<String> {
        let (text, at) = self.string(table, span, path, key, required)?;
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > max || text.chars().any(char::is_control) {
            self.report(at, DiagnosticKind::BadText { key: KeyPath(join(path, key)), max });
            return None;
        }
        Some(text.to_owned())
    }

    fn integer(
        &mut self,
        table: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        key: &'static str,
        required: bool,
    ) -> Option<(i128, Range<usize>)> {
        let value = self.required(table, span, path, key, required)?;
        let parsed = value.get_ref().as_integer().and_then(|int| i128::from_str_radix(int.as_str(), int.radix()).ok());
        if parsed.is_none() {
            self.wrong_type(&join(path, key), value, "an integer");
        }
        Some((parsed?, value.span()))
    }

    fn bounded(
        &mut self,
        table: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        key: &'static str,
        max: u64,
    ) -> Option<u64> {
        let (number, at) = self.integer(table, span, path, key, true)?;
        match u64::try_from(number) {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                self.report(at, DiagnosticKind::OutOfRange { key: KeyPath(join(path, key)), min: 1, max });
                None
            }
        }
    }

    fn string_list<'t>(
        &mut self,
        table: &'t DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        key: &'static str,
        required: bool,
    ) -> Option<Option<Vec<Located<'t>>>> {
        let Some(value) = self.required(table, span, path, key, required) else {
            return if required { None } else { Some(None) };
        };
        let key_path = join(path, key);
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(&key_path, value, "a list of strings");
            return None;
        };
        if items.is_empty() {
            self.report(value.span(), DiagnosticKind::EmptyList { key: KeyPath(key_path) });
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(text) => out.push((text.as_ref(), item.span())),
                _ => {
                    self.wrong_type(&key_path, item, "a list of strings");
                    ok = false;
                }
            }
        }
        ok.then_some(Some(out))
    }

    fn id(
        &mut self,
        table: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        what: &'static str,
    ) -> Option<(String, Range<usize>)> {
        let (id, at) = self.string(table, span, path, "id", true)?;
        if !is_slug(id, b"-") {
            self.report(at, DiagnosticKind::InvalidId { what, id: SafeText::new(id) });
            return None;
        }
        Some((id.to_owned(), at))
    }

    fn scope(&mut self, table: &DeTable<'_>, span: &Range<usize>, path: &str) -> Option<String> {
        let (scope, at) = self.string(table, span, path, "scope", true)?;
        if !is_slug(scope, b"-._:") {
            self.report(at, DiagnosticKind::InvalidScope { scope: SafeText::new(scope) });
            return None;
        }
        Some(scope.to_owned())
    }

    fn effect(&mut self, table: &DeTable<'_>, span: &Range<usize>, path: &str) -> Option<Effect> {
        let (effect, at) = self.string(table, span, path, "effect", true)?;
        match effect {
            "allow" => Some(Effect::Allow),
            "deny" => Some(Effect::Deny),
            other => {
                self.report(at, DiagnosticKind::InvalidEffect { found: SafeText::new(other) });
                None
            }
        }
    }

    fn capability(&mut self, table: &DeTable<'_>, path: &str) -> Option<Option<CapabilityCondition>> {
        let Some((value, at)) = self.string(table, &(0..0), path, "capability", false) else {
            // Absent is fine; a wrong type has been reported and `find` tells them apart.
            return find(table, "capability").is_none().then_some(None);
        };
        match value {
            "present" => Some(Some(CapabilityCondition::Present)),
            "missing" => Some(Some(CapabilityCondition::Missing)),
            other => {
                self.report(at, DiagnosticKind::InvalidCapability { found: SafeText::new(other) });
                None
            }
        }
    }

    fn syscall(&mut self, table: &DeTable<'_>, span: &Range<usize>, path: &str) -> Option<Syscall> {
        let (name, at) = self.string(table, span, path, "syscall", true)?;
        self.known_syscall(name, at)
    }

    fn known_syscall(&mut self, name: &str, at: Range<usize>) -> Option<Syscall> {
        match name.parse::<Syscall>() {
            Ok(syscall) => Some(syscall),
            Err(_) => {
                self.report(at, DiagnosticKind::UnknownSyscall { name: SafeText::new(name) });
                None
            }
        }
    }

    fn syscall_list(&mut self, table: &DeTable<'_>, span: &Range<usize>, path: &str) -> Option<Option<Vec<Syscall>>> {
        let Some(names) = self.string_list(table, span, path, "syscalls", false)? else {
            return Some(None);
        };
        let parsed: Vec<Option<Syscall>> = names.into_iter().map(|(name, at)| self.known_syscall(name, at)).collect();
        let mut list: Vec<Syscall> = parsed.into_iter().collect::<Option<_>>()?;
        list.sort();
        list.dedup();
        Some(Some(list))
    }

    fn labels(
        &mut self,
        table: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        key: &'static str,
    ) -> Option<Option<LabelSet>> {
        let Some(names) = self.string_list(table, span, path, key, false)? else {
            return Some(None);
        };
        let mut set = LabelSet::EMPTY;
        let mut ok = true;
        for (name, at) in names {
            match name.parse() {
                Ok(label) => set = set.with(label),
                Err(_) => {
                    self.report(at, DiagnosticKind::UnknownLabel { name: SafeText::new(name) });
                    ok = false;
                }
            }
        }
        ok.then_some(Some(set))
    }

    fn pattern(&mut self, table: &DeTable<'_>, span: &Range<usize>, path: &str, key: &'static str) -> Option<Pattern> {
        let (text, at) = self.string(table, span, path, key, true)?;
        self.checked_pattern(text, at, &join(path, key))
    }

    fn checked_pattern(&mut self, text: &str, at: Range<usize>, key_path: &str) -> Option<Pattern> {
        match Pattern::new(text) {
            Ok(pattern) => Some(pattern),
            Err(problem) => {
                self.report(at, DiagnosticKind::InvalidPattern { key: KeyPath(key_path.to_owned()), problem });
                None
            }
        }
    }

    /// A list of patterns. Required lists answer `Some(list)`; optional ones `Some(None)` when
    /// absent. The outer `None` means an error was reported.
    fn patterns<T: FromPatterns>(
        &mut self,
        table: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        key: &'static str,
        required: bool,
    ) -> Option<T> {
        let Some(texts) = self.string_list(table, span, path, key, required)? else {
            return T::absent();
        };
        let key_path = join(path, key);
        let parsed: Vec<Option<Pattern>> =
            texts.into_iter().map(|(text, at)| self.checked_pattern(text, at, &key_path)).collect();
        Some(T::from_patterns(parsed.into_iter().collect::<Option<_>>()?))
    }

    fn tables<'t, 'i>(
        &mut self,
        root: &'t DeTable<'i>,
        key: &'static str,
        required: bool,
    ) -> Option<Vec<(&'t DeTable<'i>, Range<usize>)>> {
        let value = self.required(root, &(0..0), "", key, required)?;
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(key, value, "an array of tables");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::Table(table) => out.push((table, item.span())),
                _ => {
                    self.wrong_type(key, item, "an array of tables");
                    return None;
                }
            }
        }
        Some(out)
    }
}

/// Lets [`Cx::patterns`] serve both required lists (`Vec`) and optional ones (`Option<Vec>`).
trait FromPatterns: Sized {
    fn absent() -> Option<Self>;
    fn from_patterns(list: Vec<Pattern>) -> Self;
}

impl FromPatterns for Vec<Pattern> {
    fn absent() -> Option<Self> {
        None
    }
    fn from_patterns(list: Vec<Pattern>) -> Self {
        list
    }
}

impl FromPatterns for Option<Vec<Pattern>> {
    fn absent() -> Option<Self> {
        Some(None)
    }
    fn from_patterns(list: Vec<Pattern>) -> Self {
        Some(list)
    }
}

fn find<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Value<'i>> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// 1 to 64 characters: a lowercase letter or digit, then lowercase letters, digits or `extra`.
fn is_slug(text: &str, extra: &[u8]) -> bool {
    let bytes = text.as_bytes();
    let first_ok = bytes.first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    first_ok
        && bytes.len() <= 64
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(b))
}

/// The (label set, capability) cells a rule's conditions accept, as a 128-bit row: bit
/// `2 * labels + capability`. Its syscalls are kept apart, in `syscall_table`.
fn cells(rule: &Rule) -> u128 {
    (0..LabelSet::COUNT)
        .filter(|bits| rule.label_table >> bits & 1 != 0)
        .flat_map(|bits| [(bits, 0u8), (bits, 1u8)])
        .filter(|&(_, capability)| rule.capability_table >> capability & 1 != 0)
        .fold(0, |row, (bits, capability)| row | 1 << (2 * bits + usize::from(capability)))
}

fn universal_patterns(patterns: Option<&[Pattern]>) -> bool {
    patterns.is_none_or(|list| list.iter().any(Pattern::is_universal))
}

/// Whether `earlier` matches every syscall, label set and capability state `later` does.
fn covers_cells(earlier: &Rule, later: &Rule) -> bool {
    later.syscall_table & !earlier.syscall_table == 0
        && later.label_table & !earlier.label_table == 0
        && later.capability_table & !earlier.capability_table == 0
}

/// Whether `union` (per syscall, the cells earlier rules cover) holds every cell of `rule`.
fn covered_by(union: &[u128], rule: &Rule) -> bool {
    let row = cells(rule);
    union
        .iter()
        .zip(Syscall::ALL)
        .all(|(covered, syscall)| rule.syscall_table & syscall.bit() == 0 || row & !covered == 0)
}
