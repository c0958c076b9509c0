//! Findings and how they are told: severities, a readable list for people and the tally
//! and worst severity that set the exit status. The container audit reports in these
//! terms; the API audit files its checks under OWASP items instead ([`crate::api::owasp`]).

use std::fmt::Write as _;

use serde::Serialize;
use sha2::Digest as _;

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

/// The findings as a SARIF 2.1.0 log (OASIS), the format code-scanning tools take: one
/// rule per finding id, one result per finding, located at `target` (what was audited).
/// Levels: critical and high are errors, medium warnings, low and info notes; GitHub's
/// `security-severity` carries the finer grade.
pub fn sarif(tool: &str, version: &str, target: &str, findings: &[Finding]) -> serde_json::Value {
    let score = |severity: Severity| match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    };
    let level = |severity: Severity| match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    };
    let mut rules: Vec<serde_json::Value> = Vec::new();
    let mut rule_ids: Vec<&str> = Vec::new();
    for finding in findings {
        if rule_ids.contains(&finding.id) {
            continue;
        }
        rule_ids.push(finding.id);
        rules.push(serde_json::json!({
            "id": finding.id,
            "name": finding.id,
            "shortDescription": {"text": finding.title},
            "help": {"text": if finding.fix.is_empty() { finding.title.as_str() } else { finding.fix }},
            "defaultConfiguration": {"level": level(finding.severity)},
            "properties": {"security-severity": score(finding.severity), "tags": ["security"]},
        }));
    }
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|finding| {
            let mut text = finding.title.clone();
            for line in &finding.evidence {
                text.push_str("\n- ");
                text.push_str(line);
            }
            let digest =
                sha2::Sha256::digest(format!("{}\n{}", finding.id, finding.evidence.join("\n")));
            let fingerprint: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            serde_json::json!({
                "ruleId": finding.id,
                "ruleIndex": rule_ids.iter().position(|id| *id == finding.id),
                "level": level(finding.severity),
                "message": {"text": text},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": target}}}],
                "partialFingerprints": {"msaFindingHash/v1": fingerprint},
                "properties": {"severity": finding.severity.name()},
            })
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": tool,
                "version": version,
                "informationUri": "https://github.com/msa-shop/msa-shop/blob/main/docs/security.md",
                "rules": rules,
            }},
            "results": results,
        }],
    })
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
    fn sarif_has_a_rule_per_id_and_a_result_per_finding() {
        let findings = sorted(vec![
            Finding::new("user.root", Severity::High, "Runs as root").fix("Add USER"),
            Finding::new("surface.shell", Severity::Low, "A shell").evidence("/bin/sh"),
            Finding::new("surface.shell", Severity::Low, "A shell").evidence("/bin/bash"),
        ]);
        let log = sarif("msa audit image", "1.0", "weak.tar", &findings);
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        assert_eq!(
            run["tool"]["driver"]["rules"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            run["tool"]["driver"]["rules"][0]["help"]["text"],
            "Add USER"
        );
        let results = run["results"].as_array().cloned().unwrap_or_default();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["level"], "error");
        assert_eq!(results[2]["ruleIndex"], 1);
        assert_eq!(results[2]["message"]["text"], "A shell\n- /bin/bash");
        assert_ne!(
            results[1]["partialFingerprints"],
            results[2]["partialFingerprints"]
        );
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "weak.tar"
        );
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
