//! CPU seconds and resident memory of a process, read from /proc (Linux).

use anyhow::Context as _;
use serde_json::{json, Value};

/// /proc/PID/stat reports times in USER_HZ, which Linux fixes at 100 for user space.
const USER_HZ: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// User + system CPU seconds since the process started.
    pub cpu_s: f64,
    /// Resident set size now, and its peak (VmHWM), in KiB.
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl ProcSample {
    pub fn to_json(self) -> Value {
        json!({"cpu_s": self.cpu_s, "rss_kib": self.rss_kib, "hwm_kib": self.hwm_kib})
    }
}

/// A sample that could not be taken (the process is gone).
const UNKNOWN: ProcSample = ProcSample {
    cpu_s: f64::NAN,
    rss_kib: 0,
    hwm_kib: 0,
};

/// Samples `pid` ("self" for this process).
pub fn sample(pid: &str) -> anyhow::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is --server-pid right?)"))?;
    // The command name may hold spaces and parentheses; fields restart after the last ')'.
    let after = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("odd /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    let tick = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i - 3)
            .context("short /proc stat")?
            .parse::<u64>()? as f64)
    };
    let cpu_s = (tick(14)? + tick(15)?) / USER_HZ;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok(ProcSample {
        cpu_s,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

/// Samples the server (when a pid was given) and this process at a named moment of the run.
///
/// A cluster run gives several server pids (one per node, and Redis): the "server" sample of
/// each mark is then their sum (CPU seconds and RSS add up), so every derived figure is for
/// the whole cluster, and `nodes` keeps each process's own samples next to it.
#[derive(Debug, Default)]
pub struct Usage {
    pids: Vec<(String, String)>,
    pub marks: Vec<(&'static str, ProcSample, ProcSample)>,
    /// Per mark, each server process's own sample (same order as the pids).
    pub nodes: Vec<Vec<ProcSample>>,
}

impl Usage {
    pub fn new(pid: Option<u32>) -> anyhow::Result<Usage> {
        let pids: Vec<(String, u32)> = pid.map(|p| ("server".to_owned(), p)).into_iter().collect();
        Usage::of(&pids)
    }

    /// Several labelled server processes ("node1", "redis", ...), summed in every mark.
    pub fn of(pids: &[(String, u32)]) -> anyhow::Result<Usage> {
        let u = Usage {
            pids: pids
                .iter()
                .map(|(l, p)| (l.clone(), p.to_string()))
                .collect(),
            marks: Vec::new(),
            nodes: Vec::new(),
        };
        for (_, p) in &u.pids {
            sample(p)?;
        }
        Ok(u)
    }

    pub fn mark(&mut self, name: &'static str) {
        let each: Vec<ProcSample> = self
            .pids
            .iter()
            .map(|(_, p)| sample(p).unwrap_or(UNKNOWN))
            .collect();
        let server = if each.is_empty() {
            UNKNOWN
        } else {
            each.iter().fold(
                ProcSample {
                    cpu_s: 0.0,
                    rss_kib: 0,
                    hwm_kib: 0,
                },
                |a, s| ProcSample {
                    cpu_s: a.cpu_s + s.cpu_s,
                    rss_kib: a.rss_kib + s.rss_kib,
                    hwm_kib: a.hwm_kib + s.hwm_kib,
                },
            )
        };
        let me = sample("self").unwrap_or(UNKNOWN);
        self.marks.push((name, server, me));
        self.nodes.push(each);
    }

    pub fn has_server(&self) -> bool {
        !self.pids.is_empty()
    }

    /// The labels of the server processes, in sample order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.pids.iter().map(|(l, _)| l.as_str())
    }

    pub fn get(&self, name: &str) -> Option<(ProcSample, ProcSample)> {
        self.marks
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, s, m)| (*s, *m))
    }

    /// Each server process's sample at a mark, labelled.
    pub fn get_each(&self, name: &str) -> Vec<(String, ProcSample)> {
        let Some(i) = self.marks.iter().position(|(n, _, _)| *n == name) else {
            return Vec::new();
        };
        self.labels()
            .map(str::to_owned)
            .zip(self.nodes[i].iter().copied())
            .collect()
    }

    pub fn to_json(&self) -> Value {
        let marks: Vec<Value> = self
            .marks
            .iter()
            .zip(&self.nodes)
            .map(|((n, s, m), each)| {
                let mut v = json!({"mark": n, "server": if self.has_server() { s.to_json() } else { Value::Null }, "loadtest": m.to_json()});
                if self.pids.len() > 1 {
                    v["processes"] = self
                        .labels()
                        .zip(each)
                        .map(|(l, s)| (l.to_owned(), s.to_json()))
                        .collect::<serde_json::Map<_, _>>()
                        .into();
                }
                v
            })
            .collect();
        let pid = match self.pids.as_slice() {
            [] => Value::Null,
            [(_, p)] => json!(p),
            many => many
                .iter()
                .map(|(l, p)| (l.clone(), json!(p)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        };
        json!({"server_pid": pid, "marks": marks})
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_itself() {
        let s = super::sample("self").unwrap();
        assert!(s.rss_kib > 0);
        assert!(s.cpu_s >= 0.0);
    }
}
