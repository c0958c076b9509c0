//! The OWASP API Security Top 10 (2023), and the outcome of each check filed under its item.

use std::fmt::Write as _;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Item {
    #[serde(rename = "API1:2023")]
    ObjectLevelAuthorization,
    #[serde(rename = "API2:2023")]
    Authentication,
    #[serde(rename = "API3:2023")]
    PropertyLevelAuthorization,
    #[serde(rename = "API4:2023")]
    ResourceConsumption,
    #[serde(rename = "API5:2023")]
    FunctionLevelAuthorization,
    #[serde(rename = "API6:2023")]
    BusinessFlows,
    #[serde(rename = "API7:2023")]
    RequestForgery,
    #[serde(rename = "API8:2023")]
    Misconfiguration,
    #[serde(rename = "API9:2023")]
    Inventory,
    #[serde(rename = "API10:2023")]
    UnsafeConsumption,
}

impl Item {
    pub const ALL: [Self; 10] = [
        Self::ObjectLevelAuthorization,
        Self::Authentication,
        Self::PropertyLevelAuthorization,
        Self::ResourceConsumption,
        Self::FunctionLevelAuthorization,
        Self::BusinessFlows,
        Self::RequestForgery,
        Self::Misconfiguration,
        Self::Inventory,
        Self::UnsafeConsumption,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::ObjectLevelAuthorization => "API1:2023",
            Self::Authentication => "API2:2023",
            Self::PropertyLevelAuthorization => "API3:2023",
            Self::ResourceConsumption => "API4:2023",
            Self::FunctionLevelAuthorization => "API5:2023",
            Self::BusinessFlows => "API6:2023",
            Self::RequestForgery => "API7:2023",
            Self::Misconfiguration => "API8:2023",
            Self::Inventory => "API9:2023",
            Self::UnsafeConsumption => "API10:2023",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ObjectLevelAuthorization => "Broken Object Level Authorization",
            Self::Authentication => "Broken Authentication",
            Self::PropertyLevelAuthorization => "Broken Object Property Level Authorization",
            Self::ResourceConsumption => "Unrestricted Resource Consumption",
            Self::FunctionLevelAuthorization => "Broken Function Level Authorization",
            Self::BusinessFlows => "Unrestricted Access to Sensitive Business Flows",
            Self::RequestForgery => "Server Side Request Forgery",
            Self::Misconfiguration => "Security Misconfiguration",
            Self::Inventory => "Improper Inventory Management",
            Self::UnsafeConsumption => "Unsafe Consumption of APIs",
        }
    }

    /// Why an item has no check: what cannot be seen from outside.
    pub fn untested_reason(self) -> Option<&'static str> {
        match self {
            Self::BusinessFlows => {
                Some("which flows are sensitive is the business's call; no generic probe can tell")
            }
            Self::UnsafeConsumption => Some(
                "how the API treats answers from services it calls is not visible from outside",
            ),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Could not be run against this target (the reason is in the evidence).
    NotTested,
}

/// One check's verdict and the exchanges it rests on.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub item: Item,
    pub title: &'static str,
    pub outcome: Outcome,
    /// Requests and response excerpts: for a failure, the ones that failed.
    pub evidence: Vec<String>,
    /// How many requests the check sent.
    pub requests: usize,
}

impl Check {
    pub fn new(id: &'static str, item: Item, title: &'static str) -> Self {
        Self {
            id,
            item,
            title,
            outcome: Outcome::Pass,
            evidence: Vec::new(),
            requests: 0,
        }
    }

    /// Records a failure with its evidence (the check keeps running to show them all).
    pub fn fail(&mut self, evidence: impl Into<String>) {
        self.outcome = Outcome::Fail;
        if self.evidence.len() < 12 {
            self.evidence.push(evidence.into());
        }
    }

    /// Records what was seen on a pass (a few lines, to show what was probed).
    pub fn note(&mut self, evidence: impl Into<String>) {
        if self.evidence.len() < 6 {
            self.evidence.push(evidence.into());
        }
    }

    #[must_use]
    pub fn not_tested(mut self, reason: impl Into<String>) -> Self {
        self.outcome = Outcome::NotTested;
        self.evidence = vec![reason.into()];
        self
    }
}

/// An item's verdict: failed if any check failed, passed if any ran and none failed.
pub fn verdict(checks: &[Check]) -> Outcome {
    if checks.iter().any(|c| c.outcome == Outcome::Fail) {
        Outcome::Fail
    } else if checks.iter().any(|c| c.outcome == Outcome::Pass) {
        Outcome::Pass
    } else {
        Outcome::NotTested
    }
}

pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::NotTested => "not tested",
    }
}

/// Text for one item and its checks.
pub fn render_item(out: &mut String, item: Item, checks: &[Check]) {
    let outcome = verdict(checks);
    let _ = writeln!(
        out,
        "{:<11} {:<48} {}",
        item.code(),
        item.name(),
        outcome_label(outcome)
    );
    if checks.is_empty() {
        if let Some(reason) = item.untested_reason() {
            let _ = writeln!(out, "            ({reason})");
        }
        return;
    }
    for check in checks {
        let _ = writeln!(
            out,
            "    {:<10} {:<34} {} ({} request{})",
            outcome_label(check.outcome),
            check.id,
            check.title,
            check.requests,
            if check.requests == 1 { "" } else { "s" }
        );
        let shown = if check.outcome == Outcome::Pass { 1 } else { 6 };
        for line in check.evidence.iter().take(shown) {
            let _ = writeln!(out, "               {line}");
        }
    }
}
