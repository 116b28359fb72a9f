//! Where the machine's CPU went during a run: the load tool's, the measured server's, and the
//! whole machine's busy share, read from `/proc` at the start and the end of the measurement.
//!
//! The tool and the server share two cores, so a latency target under a fixed rate is decided
//! by how busy the two of them keep the machine: near 100% every request waits for a core.
//! The CPU each spends per request, beside the latency, says which side a tail comes from,
//! and whether a change made a request cheaper for both loops or only for one.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::tail::{self, StealSample};

/// CPU time per answered request, and how busy the machine was, over a measured window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuUse {
    /// The load tool's CPU (user + system) per successful request, in microseconds.
    pub tool_us_per_request: f64,
    /// The measured server's, when its process id was given.
    pub server_us_per_request: Option<f64>,
    /// Share of the machine's CPU time that was not idle (0..1), every process included.
    pub machine_busy: f64,
    /// Share of the machine's CPU time the hypervisor gave to someone else (0..1).
    pub machine_steal: f64,
}

/// CPU counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSample {
    at: Instant,
    tool_ticks: u64,
    server_ticks: Option<u64>,
    machine: MachineTicks,
}

/// The first line of `/proc/stat`, summed into what is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineTicks {
    total: u64,
    idle: u64,
    steal: u64,
}

impl CpuSample {
    /// Reads the counters now; `server` is the measured server's process id, if known.
    ///
    /// # Errors
    /// When `/proc` cannot be read or parsed (not Linux, or the server has exited).
    pub fn take(server: Option<u32>) -> Result<Self, String> {
        let tool_ticks = process_ticks(&read("/proc/self/stat")?)?;
        let server_ticks = match server {
            Some(pid) => Some(process_ticks(&read(&format!("/proc/{pid}/stat"))?)?),
            None => None,
        };
        let machine = machine_ticks(&read("/proc/stat")?)?;
        Ok(Self {
            at: Instant::now(),
            tool_ticks,
            server_ticks,
            machine,
        })
    }

    /// The machine's stolen ticks at this sample.
    fn steal_sample(&self) -> StealSample {
        StealSample {
            at: self.at,
            stolen_ticks: self.machine.steal,
        }
    }

    /// The CPU used between `self` and `later`, per request at `requests_per_sec` (the
    /// run's throughput over the same window). `None` without time or requests between.
    pub fn until(&self, later: &Self, requests_per_sec: f64) -> Option<CpuUse> {
        let seconds = later.at.checked_duration_since(self.at)?.as_secs_f64();
        let machine_total = later.machine.total.checked_sub(self.machine.total)?;
        if seconds <= 0.0 || requests_per_sec <= 0.0 || machine_total == 0 {
            return None;
        }
        let tick = 1.0 / ticks_per_second();
        // Cores' worth of CPU over the window, divided by requests per second: CPU seconds
        // per request.
        let per_request = |ticks: u64| ticks as f64 * tick / seconds / requests_per_sec * 1e6;
        let machine_share = |ticks: u64| ticks as f64 / machine_total as f64;
        let idle = later.machine.idle.saturating_sub(self.machine.idle);
        let steal = later.machine.steal.saturating_sub(self.machine.steal);
        Some(CpuUse {
            tool_us_per_request: per_request(later.tool_ticks.checked_sub(self.tool_ticks)?),
            server_us_per_request: match (self.server_ticks, later.server_ticks) {
                (Some(before), Some(after)) => Some(per_request(after.checked_sub(before)?)),
                _ => None,
            },
            machine_busy: 1.0 - machine_share(idle),
            machine_steal: machine_share(steal),
        })
    }
}

/// A measured window's CPU samples: at its start and end, and the machine's stolen time
/// every [`tail::WINDOW`] between them.
#[derive(Debug, Clone)]
pub struct SampledWindow {
    /// At the start of the measurement.
    pub first: CpuSample,
    /// At its end.
    pub last: CpuSample,
    /// The stolen ticks from `first` to `last`, [`tail::WINDOW`] apart.
    pub steal: Vec<StealSample>,
}

/// Samples a measured window that begins `warmup` from now and lasts `duration`.
///
/// # Errors
/// When a sample cannot be taken (see [`CpuSample::take`]).
pub async fn sample_window(
    server: Option<u32>,
    warmup: Duration,
    duration: Duration,
) -> Result<SampledWindow, String> {
    tokio::time::sleep(warmup).await;
    let first = CpuSample::take(server)?;
    let end = tokio::time::Instant::now() + duration;
    let mut steal = vec![first.steal_sample()];
    while tokio::time::Instant::now() + tail::WINDOW < end {
        tokio::time::sleep(tail::WINDOW).await;
        steal.push(StealSample {
            at: Instant::now(),
            stolen_ticks: machine_ticks(&read("/proc/stat")?)?.steal,
        });
    }
    tokio::time::sleep_until(end).await;
    let last = CpuSample::take(server)?;
    steal.push(last.steal_sample());
    Ok(SampledWindow { first, last, steal })
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn ticks_per_second() -> f64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100.0,
        ticks => ticks as f64,
    }
}

/// User + system clock ticks from a `/proc/<pid>/stat` line (fields 14 and 15). The command
/// name in parentheses may hold spaces and parentheses itself, so fields are counted from the
/// last `)`.
fn process_ticks(stat: &str) -> Result<u64, String> {
    let after_name = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| format!("no command name in a process's stat line: {stat:?}"))?;
    // After the name come field 3 (state) onwards, so utime (14) is the 12th.
    let mut fields = after_name.split_whitespace().skip(11);
    let mut next = |name: &str| {
        fields
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format!("no {name} in a process's stat line: {stat:?}"))
    };
    Ok(next("utime")? + next("stime")?)
}

/// The machine's ticks from `/proc/stat`'s `cpu` line: user nice system idle iowait irq
/// softirq steal (guest time is already inside user). Waiting for I/O counts as idle.
fn machine_ticks(stat: &str) -> Result<MachineTicks, String> {
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| "no `cpu` line in /proc/stat".to_owned())?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("a bad number in /proc/stat's cpu line {line:?}: {e}"))?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = values[..] else {
        return Err(format!(
            "fewer than 8 counters in /proc/stat's cpu line {line:?}"
        ));
    };
    Ok(MachineTicks {
        total: user + nice + system + idle + iowait + irq + softirq + steal,
        idle: idle + iowait,
        steal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_ticks_are_user_plus_system_even_with_a_strange_command_name() {
        let line = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    1500 250 0 0 20 0 3 0 123456 0 0";
        assert_eq!(process_ticks(line), Ok(1750));
        assert!(process_ticks("4242 no name").is_err());
        assert!(process_ticks("4242 (x) S 1 2").is_err());
    }

    #[test]
    fn machine_ticks_count_iowait_as_idle_and_guest_time_once() {
        let stat = "cpu  100 5 50 800 20 3 2 10 40 0\ncpu0 50 2 25 400 10 1 1 5 20 0\n";
        let ticks = machine_ticks(stat).expect("parsed");
        assert_eq!(
            ticks,
            MachineTicks {
                total: 100 + 5 + 50 + 800 + 20 + 3 + 2 + 10,
                idle: 820,
                steal: 10,
            }
        );
        assert!(machine_ticks("cpu0 1 2 3\n").is_err());
        assert!(machine_ticks("cpu  1 2 3\n").is_err());
    }

    #[test]
    fn use_per_request_divides_cores_by_the_request_rate() {
        let tick = 1.0 / ticks_per_second();
        let start = Instant::now();
        let before = CpuSample {
            at: start,
            tool_ticks: 1000,
            server_ticks: Some(2000),
            machine: MachineTicks {
                total: 10_000,
                idle: 5_000,
                steal: 0,
            },
        };
        // Over 2 s: the tool used 0.5 core, the server 1 core; the machine was 75% busy.
        let ticks_per_core_second = (1.0 / tick).round() as u64;
        let later = CpuSample {
            at: start + Duration::from_secs(2),
            tool_ticks: 1000 + ticks_per_core_second,
            server_ticks: Some(2000 + 2 * ticks_per_core_second),
            machine: MachineTicks {
                total: 10_000 + 4 * ticks_per_core_second,
                idle: 5_000 + ticks_per_core_second,
                steal: ticks_per_core_second / 10,
            },
        };
        let used = before.until(&later, 10_000.0).expect("a window");
        // 0.5 core at 10k requests/s is 50 µs per request; 1 core is 100 µs.
        assert!((used.tool_us_per_request - 50.0).abs() < 1e-6, "{used:?}");
        assert_eq!(used.server_us_per_request.map(f64::round), Some(100.0));
        assert!((used.machine_busy - 0.75).abs() < 1e-9, "{used:?}");
        assert!((used.machine_steal - 0.025).abs() < 1e-9, "{used:?}");
        assert_eq!(before.until(&later, 0.0), None);
        assert_eq!(later.until(&before, 10_000.0), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = CpuSample::take(Some(std::process::id())).expect("a sample of itself");
        assert!(sample.server_ticks.is_some());
        assert!(sample.machine.total > 0);
    }
}
