//! Test support: a crash switch that stops process-upload dead at one armed step point, once,
//! as a crash between a platform call and its checkpoint would (`ports::CrashSwitch`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use reelay_shared::ports::{CrashSwitch, StepPoint};

/// Crashes the first time an invocation reaches the armed point, then not again until re-armed.
#[derive(Default)]
pub struct CrashOnce {
    armed: Mutex<Option<StepPoint>>,
    fired: AtomicU32,
}

impl CrashOnce {
    pub fn arm(&self, point: StepPoint) {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = Some(point);
    }

    /// Crashes so far.
    pub fn fired(&self) -> u32 {
        self.fired.load(Ordering::SeqCst)
    }
}

impl CrashSwitch for CrashOnce {
    fn crash_at(&self, point: StepPoint) -> bool {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        if *armed == Some(point) {
            *armed = None;
            self.fired.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        false
    }
}
