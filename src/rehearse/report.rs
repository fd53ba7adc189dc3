//! Rehearsal output: a plain-text table for the terminal and a small self-contained HTML page
//! with bar charts (inline SVG, no scripts, nothing fetched).

use std::fmt::Write as _;

use crate::html::escape as esc;
use crate::rehearse::Summary;

fn mins(m: f64) -> String {
    let total_s = (m * 60.0).round() as u64;
    format!("{}:{:02}", total_s / 60, total_s % 60)
}

/// The report for one protocol.
pub fn text(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Rehearsal of {} ({})", s.title, s.protocol);
    let _ = writeln!(
        out,
        "crowd: {}; {} run(s) from seed {}",
        s.crowd, s.runs, s.seed
    );
    let _ = writeln!(
        out,
        "duration: median {} (range {} to {}) min:s",
        mins(s.minutes.median),
        mins(s.minutes.min),
        mins(s.minutes.max)
    );
    if s.unfinished_runs > 0 {
        let _ = writeln!(
            out,
            "warning: {} run(s) hit the 12-hour simulation cap",
            s.unfinished_runs
        );
    }
    let _ = writeln!(out, "\nphases (median min:s)");
    for p in &s.phases {
        let cut = if p.cut_by_facilitator() {
            "  (open-ended: ended by the facilitator)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<24} {:<12} {:>7}{cut}",
            p.id,
            p.kind,
            mins(p.minutes.median)
        );
    }
    let _ = writeln!(out, "\nspeaking time per person (mean per run)");
    let _ = writeln!(
        out,
        "  {:<6} {:<18} {:<10} {:>8} {:>8} {:>6} {:>6} {:>8} {:>7}",
        "who", "community", "model", "own s", "refl s", "turns", "passes", "wait s", "silent"
    );
    for p in &s.people {
        let _ = writeln!(
            out,
            "  {:<6} {:<18} {:<10} {:>8.0} {:>8.0} {:>6.1} {:>6.1} {:>8.0} {:>4}/{}",
            p.name,
            p.community,
            p.model,
            p.speaking_s,
            p.reflect_s,
            p.turns,
            p.passes,
            p.queue_wait_s,
            p.silent_runs,
            s.runs
        );
    }
    let _ = writeln!(out, "\nper community");
    for c in &s.communities {
        let _ = writeln!(
            out,
            "  {:<18} {:>3} people {:>8.0} s  {:>5.1}% of speaking time",
            c.community,
            c.members,
            c.speaking_s,
            c.share * 100.0
        );
    }
    let _ = writeln!(
        out,
        "\nGini of speaking time (silent members count as 0): median {:.2} (range {:.2} to {:.2}); within communities {:.2}, between communities {:.2}, overlap {:.2}",
        s.gini.median, s.gini.min, s.gini.max, s.gini_within, s.gini_between, s.gini_overlap
    );
    let _ = writeln!(
        out,
        "never spoke: {:.1} people per run on average",
        s.never_spoke
    );
    out
}

impl crate::rehearse::PhaseSummary {
    fn cut_by_facilitator(&self) -> bool {
        self.cut_runs > 0
    }
}

/// Several protocols on the same crowd, side by side.
pub fn compare(all: &[Summary]) -> String {
    let mut out = String::new();
    if let Some(first) = all.first() {
        let _ = writeln!(
            out,
            "crowd: {}; {} run(s) each from seed {}\n",
            first.crowd, first.runs, first.seed
        );
    }
    let _ = writeln!(
        out,
        "{:<32} {:>9} {:>15} {:>6} {:>7} {:>8} {:>8} {:>7}",
        "protocol", "median", "range", "gini", "within", "between", "overlap", "silent"
    );
    for s in all {
        let _ = writeln!(
            out,
            "{:<32} {:>9} {:>15} {:>6.2} {:>7.2} {:>8.2} {:>8.2} {:>7.1}",
            s.protocol,
            mins(s.minutes.median),
            format!("{}-{}", mins(s.minutes.min), mins(s.minutes.max)),
            s.gini.median,
            s.gini_within,
            s.gini_between,
            s.gini_overlap,
            s.never_spoke
        );
    }
    out
}

/// Horizontal bars with labels, as inline SVG.
fn bars(title: &str, rows: &[(String, f64, &str)], unit: &str) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-9);
    let h = 22 * rows.len() + 30;
    let mut svg = format!(
        r#"<figure><figcaption>{}</figcaption><svg role="img" aria-label="{}" width="640" height="{h}" viewBox="0 0 640 {h}">"#,
        esc(title),
        esc(title)
    );
    for (i, (label, v, color)) in rows.iter().enumerate() {
        let y = 10 + i * 22;
        let w = (v / max * 380.0).max(1.0);
        let _ = write!(
            svg,
            r#"<text x="0" y="{}" font-size="13">{}</text><rect x="180" y="{y}" width="{w:.1}" height="16" fill="{color}"/><text x="{:.1}" y="{}" font-size="12">{v:.0} {unit}</text>"#,
            y + 13,
            esc(label),
            185.0 + w,
            y + 13
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

const COLORS: [&str; 6] = [
    "#1f5fa8", "#b3461f", "#2e7d32", "#6a1b9a", "#8d6e00", "#00695c",
];

/// A small HTML page with charts for each protocol (speaking time by person and community).
pub fn html(all: &[Summary]) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Commonground rehearsal</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}\
         table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ccc;text-align:right}\
         td:first-child,th:first-child{text-align:left}figure{margin:1rem 0}</style><h1>Rehearsal</h1>",
    );
    if let Some(first) = all.first() {
        let _ = write!(
            out,
            "<p>Crowd: {}. {} run(s) per protocol from seed {}.</p>",
            esc(&first.crowd),
            first.runs,
            first.seed
        );
    }
    out.push_str("<table><tr><th>protocol</th><th>median min</th><th>range</th><th>Gini</th><th>within</th><th>between</th><th>never spoke</th></tr>");
    for s in all {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}–{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}</td></tr>",
            esc(&s.title),
            mins(s.minutes.median),
            mins(s.minutes.min),
            mins(s.minutes.max),
            s.gini.median,
            s.gini_within,
            s.gini_between,
            s.never_spoke
        );
    }
    out.push_str("</table>");
    for s in all {
        let comm_color = |c: &str| {
            let idx = s
                .communities
                .iter()
                .position(|x| x.community == c)
                .unwrap_or(0);
            COLORS[idx % COLORS.len()]
        };
        let _ = write!(out, "<h2>{}</h2>", esc(&s.title));
        let people: Vec<(String, f64, &str)> = s
            .people
            .iter()
            .map(|p| {
                (
                    format!("{} ({}, {})", p.name, p.community, p.model),
                    p.speaking_s,
                    comm_color(&p.community),
                )
            })
            .collect();
        out.push_str(&bars(
            "Speaking time per person (mean seconds per run)",
            &people,
            "s",
        ));
        let comms: Vec<(String, f64, &str)> = s
            .communities
            .iter()
            .map(|c| (c.community.clone(), c.speaking_s, comm_color(&c.community)))
            .collect();
        out.push_str(&bars(
            "Speaking time per community (mean seconds per run)",
            &comms,
            "s",
        ));
    }
    out.push_str("</html>\n");
    out
}
