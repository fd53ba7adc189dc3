//! What a run reports: latency histograms, counters, server and generator usage; printed as a
//! table, written as one JSON file and one SVG percentile chart per run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use crate::procstat::Usage;

/// Latencies in microseconds, from 1 µs to 10 minutes, 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// The quantiles every table and JSON file shows.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)];

pub fn summary(h: &Histogram<u64>) -> Value {
    let mut m = Map::new();
    m.insert("count".into(), json!(h.len()));
    for (name, q) in QUANTILES {
        m.insert(format!("{name}_us"), json!(h.value_at_quantile(q)));
    }
    m.insert("max_us".into(), json!(h.max()));
    m.insert("mean_us".into(), json!(h.mean().round()));
    Value::Object(m)
}

/// One run's results.
#[derive(Debug)]
pub struct Report {
    pub scenario: &'static str,
    pub target: &'static str,
    pub params: Value,
    /// Named latency histograms; the first one is charted.
    pub latencies: Vec<(&'static str, Histogram<u64>)>,
    /// Ordered counters and derived figures.
    pub figures: Vec<(String, Value)>,
    pub usage: Usage,
    /// Problems a reader must see next to the numbers (e.g. "saturated: generator at 100%").
    pub notes: Vec<String>,
}

impl Report {
    pub fn figure(&mut self, name: &str, v: impl Into<Value>) {
        self.figures.push((name.to_owned(), v.into()));
    }

    pub fn to_json(&self) -> Value {
        let lat: Map<String, Value> = self
            .latencies
            .iter()
            .map(|(n, h)| {
                let mut s = summary(h);
                s["spectrum"] = json!(spectrum(h)
                    .iter()
                    .map(|(q, v)| json!([q, v]))
                    .collect::<Vec<_>>());
                ((*n).to_owned(), s)
            })
            .collect();
        let figures: Map<String, Value> = self.figures.iter().cloned().collect();
        json!({
            "scenario": self.scenario,
            "target": self.target,
            "params": self.params,
            "latency": lat,
            "figures": figures,
            "usage": self.usage.to_json(),
            "notes": self.notes,
        })
    }

    /// The readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "== {} on {} ==", self.scenario, self.target);
        let _ = writeln!(s, "params: {}", self.params);
        let _ = writeln!(
            s,
            "{:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, h) in &self.latencies {
            let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
            let _ = writeln!(
                s,
                "{:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
                name,
                h.len(),
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.9)),
                ms(h.value_at_quantile(0.99)),
                ms(h.value_at_quantile(0.999)),
                ms(h.max())
            );
        }
        for (name, v) in &self.figures {
            let shown = match v {
                Value::Number(n) => match n.as_f64() {
                    Some(f) if n.is_f64() => format!("{f:.3}"),
                    _ => n.to_string(),
                },
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(s, "{name:<34} {shown}");
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    /// Writes `<dir>/<scenario>-<target>-<unix>.json` and `.svg`; returns the JSON path.
    pub fn write(&self, dir: &Path, stamp: u64) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let base = dir.join(format!("{}-{}-{stamp}", self.scenario, self.target));
        let json_path = base.with_extension("json");
        std::fs::write(&json_path, serde_json::to_string_pretty(&self.to_json())?)?;
        if let Some((name, h)) = self.latencies.first() {
            let title = format!("{} / {}: {name}", self.scenario, self.target);
            std::fs::write(base.with_extension("svg"), svg_chart(&title, h))?;
        }
        Ok(json_path)
    }
}

/// (quantile, µs) points spaced evenly on the "nines" axis, up to 99.999 %.
fn spectrum(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=50)
        .map(|i| {
            let q = 1.0 - 10f64.powf(-f64::from(i) / 10.0);
            (q.max(0.0), h.value_at_quantile(q.max(0.0)))
        })
        .chain(std::iter::once((1.0, h.max())))
        .collect()
}

/// A percentile distribution chart (latency against "nines", like HdrHistogram's plotter),
/// hand-written SVG.
pub fn svg_chart(title: &str, h: &Histogram<u64>) -> String {
    let (w, hgt, left, bottom, top, right) = (660.0, 360.0, 60.0, 40.0, 40.0, 40.0);
    let pts = spectrum(h);
    let max_ms = (h.max() as f64 / 1000.0).max(0.001);
    let nines_max = 5.0;
    let x = |q: f64| {
        let nines = if q >= 1.0 {
            nines_max
        } else {
            (-(1.0 - q).log10()).min(nines_max)
        };
        left + nines / nines_max * (w - left - right)
    };
    let y = |ms: f64| top + (1.0 - ms / max_ms) * (hgt - top - bottom);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{hgt}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="18" font-size="13">{}</text>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>
"##,
        xml_escape(title),
        hgt - bottom,
        w - right,
        hgt - bottom,
        hgt - bottom
    );
    for (label, q) in [
        ("0%", 0.0),
        ("90%", 0.9),
        ("99%", 0.99),
        ("99.9%", 0.999),
        ("99.99%", 0.9999),
        ("99.999%", 0.99999),
    ] {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle">{label}</text><line x1="{:.1}" y1="{top}" x2="{:.1}" y2="{}" stroke="#ddd"/>"##,
            x(q),
            hgt - bottom + 15.0,
            x(q),
            x(q),
            hgt - bottom
        );
    }
    for i in 0..=4 {
        let ms = max_ms * f64::from(i) / 4.0;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{ms:.2}</text>"##,
            left - 5.0,
            y(ms) + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="12" y="{:.1}" transform="rotate(-90 12 {:.1})" text-anchor="middle">latency (ms)</text>"##,
        hgt / 2.0,
        hgt / 2.0
    );
    let line: Vec<String> = pts
        .iter()
        .map(|(q, us)| format!("{:.1},{:.1}", x(*q), y(*us as f64 / 1000.0)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
        line.join(" ")
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="32" text-anchor="end">n = {}, p99 = {:.2} ms, max = {:.2} ms</text>"##,
        w - right,
        h.len(),
        h.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms
    );
    s.push_str("</svg>\n");
    s
}

fn xml_escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_and_summary_from_a_small_histogram() {
        let mut h = new_hist();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let s = summary(&h);
        assert_eq!(s["count"], 1000);
        assert!(s["p99_us"].as_u64().unwrap() >= 9_800);
        let svg = svg_chart("t & <x>", &h);
        assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("&amp;"));
    }
}
