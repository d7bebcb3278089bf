//! Shared helpers of the benchmark binaries (`stsd-bench-seed`, `stsd-bench-serve`,
//! `stsd-bench-load`, `stsd-bench-reports`): reading process CPU time and memory from
//! `/proc`, and the generated TLS report corpus ([`corpus`]).
//!
//! The benchmarks themselves are `bench/edge-dns.sh` and `bench/reports.sh`; see their
//! headers for what they measure.

use std::fs;

pub mod corpus;

use anyhow::{Context, anyhow};

/// User plus system CPU time of a whole process (all threads), in clock ticks, from
/// `/proc/<pid>/stat` (`pid` = `"self"` for this process).
pub fn cpu_ticks(pid: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat_ticks(&text).ok_or_else(|| anyhow!("unexpected format of {path}"))
}

/// utime + stime from the text of `/proc/<pid>/stat`. The command name (field 2) is in
/// parentheses and may contain spaces, so fields are counted after the last `)`.
fn parse_stat_ticks(text: &str) -> Option<u64> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    // After `)` come field 3 (state) onwards; utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy and total clock ticks of one CPU since boot, from `/proc/stat` (`cpuN` line): how
/// much of a core anything at all used, to tell a busy core from a contended one.
pub fn cpu_busy_ticks(cpu: usize) -> anyhow::Result<(u64, u64)> {
    let text = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    parse_cpu_line(&text, cpu).ok_or_else(|| anyhow!("no cpu{cpu} line in /proc/stat"))
}

fn parse_cpu_line(text: &str, cpu: usize) -> Option<(u64, u64)> {
    let key = format!("cpu{cpu}");
    let line = text
        .lines()
        .find(|l| l.split_ascii_whitespace().next() == Some(&key))?;
    let ticks: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = ticks.iter().take(8).sum();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle, total))
}

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`, …), in KiB.
pub fn status_kib(key: &str) -> anyhow::Result<u64> {
    let text = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    parse_status_kib(&text, key).ok_or_else(|| anyhow!("no {key} in /proc/self/status"))
}

fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k != key {
            return None;
        }
        v.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let line = "123 (a b) c) S 1 123 123 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 1 2 3";
        assert_eq!(parse_stat_ticks(line), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn cpu_lines() {
        let text =
            "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 10 0 5 80 5 0 0 0 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\n";
        assert_eq!(parse_cpu_line(text, 0), Some((15, 100)));
        assert_eq!(parse_cpu_line(text, 1), Some((6, 8)));
        assert_eq!(parse_cpu_line(text, 2), None);
    }

    #[test]
    fn status_lines() {
        let text = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_kib(text, "VmRSS"), Some(1024));
        assert_eq!(parse_status_kib(text, "VmHWM"), Some(2048));
        assert_eq!(parse_status_kib(text, "VmSwap"), None);
    }
}
