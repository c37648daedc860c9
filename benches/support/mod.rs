//! Shared by the criterion benches: a measurement of the benchmark thread's own CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), which stays comparable when other processes share the machine.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// The calling thread's CPU time, in nanoseconds as a `Duration`.
fn thread_cpu_time() -> Duration {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
    Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32)
}

/// Criterion measurement of the benchmark thread's CPU time (formatted like wall time).
pub struct ThreadCpu {
    pub wall: WallTime,
}

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }

    fn end(&self, started: Duration) -> Duration {
        thread_cpu_time().saturating_sub(started)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}
