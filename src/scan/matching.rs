//! Which advisories affect which packages: each package (and, for OS packages, its
//! source package) looked up by ecosystem and name, the advisory's distribution release
//! checked against the image's, and its ranges evaluated with the ecosystem's ordering.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::str::FromStr;

use super::osv::{self, Affected, Range, Vulnerability};
use super::versions::{self, Scheme};
use super::{Finding, Inventory, Os, Package, Severity, VulnDb};

/// The findings of an inventory, by severity, then id, then package.
pub fn matches(db: &VulnDb, inventory: &Inventory) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen = HashSet::new();
    for package in &inventory.packages {
        let ecosystem = package.ecosystem.osv_name();
        let mut names = vec![(package.name.as_str(), package.version.as_str())];
        if let Some(source) = package.source.as_deref().filter(|s| *s != package.name) {
            names.push((
                source,
                package
                    .source_version
                    .as_deref()
                    .unwrap_or(&package.version),
            ));
        }
        for (name, version) in names {
            let key = (ecosystem.to_owned(), osv::normalize_name(ecosystem, name));
            for &(v, a) in db.index.get(&key).into_iter().flatten() {
                let vulnerability = &db.vulnerabilities[v];
                let affected = &vulnerability.affected[a];
                if !release_applies(affected, package, inventory.os.as_ref()) {
                    continue;
                }
                let Some(fixed) = affects(affected, version, package.ecosystem.scheme()) else {
                    continue;
                };
                if seen.insert((v, package)) {
                    findings.push(finding(vulnerability, affected, package, fixed));
                }
            }
        }
    }
    findings.sort_by(|a, b| (a.severity, &a.id, &a.package).cmp(&(b.severity, &b.id, &b.package)));
    findings
}

/// An OS advisory for a release (`Debian:12`) applies only to that release's images.
fn release_applies(affected: &Affected, package: &Package, os: Option<&Os>) -> bool {
    if !package.ecosystem.is_os() {
        return true;
    }
    let Some(ecosystem) = affected.package.as_ref().map(|p| p.ecosystem.as_str()) else {
        return false;
    };
    match osv::release(ecosystem) {
        None => true,
        Some(release) => os.is_some_and(|os| os.is_release(release)),
    }
}

/// `Some(fixed version, if any)` when `version` is affected.
fn affects(affected: &Affected, version: &str, scheme: Scheme) -> Option<Option<String>> {
    let mut in_ranges = affected.ranges.iter().filter_map(|range| {
        let scheme = match range.kind.as_str() {
            "ECOSYSTEM" => scheme,
            "SEMVER" => Scheme::Semver,
            // GIT ranges name commits, which an installed package does not carry.
            _ => return None,
        };
        evaluate(range, version, scheme)
    });
    if let Some(fixed) = in_ranges.next() {
        return Some(fixed);
    }
    let listed = affected
        .versions
        .iter()
        .any(|v| v == version || versions::compare(scheme, v, version) == Some(Ordering::Equal));
    listed.then_some(None)
}

#[derive(Clone, Copy)]
enum Event<'a> {
    Introduced(&'a str),
    Fixed(&'a str),
    LastAffected(&'a str),
}

impl<'a> Event<'a> {
    fn version(self) -> &'a str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) => v,
        }
    }
}

/// OSV's range evaluation: events sorted by version; the version is affected when the
/// last event at or below it is an introduction (and it is not past a `last_affected`).
/// A range with a version the ordering cannot read is skipped.
fn evaluate(range: &Range, version: &str, scheme: Scheme) -> Option<Option<String>> {
    let cmp = |a: &str, b: &str| {
        if a == b {
            return Some(Ordering::Equal);
        }
        match (a, b) {
            ("0", _) => Some(Ordering::Less),
            (_, "0") => Some(Ordering::Greater),
            _ => versions::compare(scheme, a, b),
        }
    };
    versions::compare(scheme, version, version)?;
    let mut events = Vec::new();
    for event in &range.events {
        let parsed = if let Some(v) = &event.introduced {
            Event::Introduced(v)
        } else if let Some(v) = &event.fixed {
            Event::Fixed(v)
        } else if let Some(v) = &event.last_affected {
            Event::LastAffected(v)
        } else {
            continue;
        };
        let is_zero_introduction = matches!(parsed, Event::Introduced("0"));
        if !is_zero_introduction
            && versions::compare(scheme, parsed.version(), parsed.version()).is_none()
        {
            return None;
        }
        events.push(parsed);
    }
    // Every version parses, so the comparison is total here.
    events.sort_by(|a, b| cmp(a.version(), b.version()).unwrap_or(Ordering::Equal));
    let mut affected = false;
    for event in &events {
        let order = match event {
            Event::Introduced("0") => Ordering::Greater,
            _ => cmp(version, event.version())?,
        };
        match event {
            Event::Introduced(_) if order != Ordering::Less => affected = true,
            Event::Fixed(_) if order != Ordering::Less => affected = false,
            Event::LastAffected(_) if order == Ordering::Greater => affected = false,
            _ => {}
        }
    }
    if !affected {
        return None;
    }
    let fixed = events.iter().find_map(|event| match event {
        Event::Fixed(v) if cmp(version, v) == Some(Ordering::Less) => Some((*v).to_owned()),
        _ => None,
    });
    Some(fixed)
}

fn finding(
    vulnerability: &Vulnerability,
    affected: &Affected,
    package: &Package,
    fixed: Option<String>,
) -> Finding {
    let (severity, cvss_score, cvss_vector) = severity(vulnerability, affected);
    let description = if vulnerability.details.is_empty() {
        vulnerability.summary.clone()
    } else {
        vulnerability.details.clone()
    };
    Finding {
        id: cve_id(vulnerability),
        severity,
        cvss_score,
        cvss_vector,
        package: package.clone(),
        fixed_version: fixed,
        description,
        uri: vulnerability.references.first().map(|r| r.url.clone()),
    }
}

/// The CVE id: the advisory's own, an alias or the upstream one it restates.
fn cve_id(vulnerability: &Vulnerability) -> String {
    std::iter::once(&vulnerability.id)
        .chain(&vulnerability.aliases)
        .chain(&vulnerability.upstream)
        .find(|id| id.starts_with("CVE-"))
        .unwrap_or(&vulnerability.id)
        .clone()
}

const CVSS_KINDS: [&str; 3] = ["CVSS_V3", "CVSS_V4", "CVSS_V2"];

/// Severity from a CVSS vector's score where the advisory has one, else from the
/// distribution's own rating (`database_specific.severity`, `ecosystem_specific`, or a
/// severity entry of the distribution's own type, as Ubuntu's are).
fn severity(
    vulnerability: &Vulnerability,
    affected: &Affected,
) -> (Severity, Option<f64>, Option<String>) {
    let scores = || vulnerability.severity.iter().chain(&affected.severity);
    for kind in CVSS_KINDS {
        for entry in scores().filter(|s| s.kind == kind) {
            if let Ok(cvss) = cvss::Cvss::from_str(&entry.score) {
                let score = cvss.score();
                return (from_score(score), Some(score), Some(entry.score.clone()));
            }
        }
    }
    let rated = [
        &affected.ecosystem_specific,
        &affected.database_specific,
        &vulnerability.database_specific,
    ]
    .into_iter()
    .flatten()
    .filter_map(|value| value.get("severity").and_then(|s| s.as_str()))
    .chain(
        scores()
            .filter(|s| !s.kind.starts_with("CVSS_"))
            .map(|s| s.score.as_str()),
    )
    .map(from_name)
    .find(|s| *s != Severity::Undefined);
    (rated.unwrap_or(Severity::Undefined), None, None)
}

/// CVSS v3's qualitative ratings.
fn from_score(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        s if s > 0.0 => Severity::Low,
        _ => Severity::Informational,
    }
}

fn from_name(name: &str) -> Severity {
    match name.to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "high" | "important" => Severity::High,
        "medium" | "moderate" => Severity::Medium,
        "low" => Severity::Low,
        "negligible" | "unimportant" | "informational" | "none" => Severity::Informational,
        _ => Severity::Undefined,
    }
}
