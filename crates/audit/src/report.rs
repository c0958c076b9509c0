//! Findings and how they are told: severities, a readable list for people and the tally
//! and worst severity that set the exit status. The container audit reports in these
//! terms; the API audit files its checks under OWASP items instead ([`crate::api::owasp`]).

use std::fmt::Write as _;

use serde::Serialize;

/// How much a finding matters, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Self; 5] = [
        Self::Info,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// One thing an audit found: what, the evidence it rests on, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable identifier (`seccomp.disabled`) that tests and pipelines can match on.
    pub id: &'static str,
    pub severity: Severity,
    pub title: String,
    /// What was read, and where: enough for a reader to check the claim themselves.
    pub evidence: Vec<String>,
    pub fix: &'static str,
}

impl Finding {
    pub fn new(id: &'static str, severity: Severity, title: impl Into<String>) -> Self {
        Self {
            id,
            severity,
            title: title.into(),
            evidence: Vec::new(),
            fix: "",
        }
    }

    #[must_use]
    pub fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }

    #[must_use]
    pub fn evidence_all(mut self, lines: impl IntoIterator<Item = String>) -> Self {
        self.evidence.extend(lines);
        self
    }

    #[must_use]
    pub fn fix(mut self, fix: &'static str) -> Self {
        self.fix = fix;
        self
    }
}

/// Findings, worst first.
pub fn sorted(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(b.id)));
    findings
}

/// The worst severity among `findings`, if any.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|finding| finding.severity).max()
}

/// "2 high, 1 medium, 3 info", worst first; "none" when empty.
pub fn tally(findings: &[Finding]) -> String {
    let parts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|severity| {
            let count = findings.iter().filter(|f| f.severity == *severity).count();
            (count > 0).then(|| format!("{count} {}", severity.name()))
        })
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The findings as text, one block each: severity, id and title, then evidence and fix.
pub fn render_findings(out: &mut String, findings: &[Finding]) {
    for finding in findings {
        let _ = writeln!(
            out,
            "  {:<8} {}  {}",
            finding.severity.name().to_uppercase(),
            finding.id,
            finding.title
        );
        for line in &finding.evidence {
            let _ = writeln!(out, "           evidence: {line}");
        }
        if !finding.fix.is_empty() {
            let _ = writeln!(out, "           fix: {}", finding.fix);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_sort_worst_first_and_tally() {
        let findings = sorted(vec![
            Finding::new("b.low", Severity::Low, "low"),
            Finding::new("a.critical", Severity::Critical, "critical"),
            Finding::new("c.low", Severity::Low, "another"),
        ]);
        let ids: Vec<_> = findings.iter().map(|f| f.id).collect();
        assert_eq!(ids, ["a.critical", "b.low", "c.low"]);
        assert_eq!(worst(&findings), Some(Severity::Critical));
        assert_eq!(tally(&findings), "1 critical, 2 low");
        assert_eq!(tally(&[]), "none");
        assert!(Severity::Medium < Severity::High);
    }

    #[test]
    fn text_shows_evidence_and_fix() {
        let mut out = String::new();
        render_findings(
            &mut out,
            &[Finding::new("user.root", Severity::High, "Runs as root")
                .evidence("Uid: 0 in /proc/self/status")
                .fix("Run as an unprivileged user")],
        );
        assert!(out.contains("HIGH     user.root  Runs as root"), "{out}");
        assert!(out.contains("evidence: Uid: 0"), "{out}");
        assert!(out.contains("fix: Run as an unprivileged user"), "{out}");
    }
}
