//! Where the business rules read the time: token lifetimes, login
//! windows, timestamps on rows and the purge schedule. The service runs
//! on the system clock; tests hold a [`ManualClock`] and move it, so a
//! 15-minute lockout passes in no time and never on a loaded machine's
//! whim.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use tokio::sync::watch;

/// The time source, cheap to clone.
#[derive(Clone, Debug)]
pub struct Clock(Source);

#[derive(Clone, Debug)]
enum Source {
    System,
    Manual(ManualClock),
}

impl Clock {
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// The current time at the precision the `DATETIME(6)` columns keep,
    /// so a value reads back exactly as it was written.
    pub fn now(&self) -> NaiveDateTime {
        self.now_utc().naive_utc()
    }

    /// The current time, in whole microseconds.
    pub fn now_utc(&self) -> DateTime<Utc> {
        match &self.0 {
            Source::System => Utc::now().trunc_subsecs(6),
            Source::Manual(manual) => *manual.now.borrow(),
        }
    }

    /// Waits until `period` has passed on this clock: real time for the
    /// system clock, a [`ManualClock::advance`] past it for a manual one.
    pub async fn sleep(&self, period: Duration) {
        match &self.0 {
            Source::System => tokio::time::sleep(period).await,
            Source::Manual(manual) => {
                let until = *manual.now.borrow() + period;
                let mut changes = manual.now.subscribe();
                // The sender lives in `manual`, borrowed for this whole
                // wait, so the channel cannot close under it.
                let _ = changes.wait_for(|now| *now >= until).await;
            }
        }
    }
}

/// A clock that stands still until it is moved. Clones share one time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    /// Stopped at the current system time.
    pub fn starting_now() -> Self {
        let (now, _) = watch::channel(Utc::now().trunc_subsecs(6));
        Self { now: Arc::new(now) }
    }

    /// The [`Clock`] to hand to the service.
    pub fn clock(&self) -> Clock {
        Clock(Source::Manual(self.clone()))
    }

    /// Moves the time on, waking whatever sleeps until then.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).expect("a duration chrono can add");
        self.now.send_modify(|now| *now += by);
    }
}

/// `at` moved on by `period`, saturating rather than overflowing.
pub fn after(at: NaiveDateTime, period: Duration) -> NaiveDateTime {
    chrono::Duration::from_std(period)
        .ok()
        .and_then(|period| at.checked_add_signed(period))
        .unwrap_or(NaiveDateTime::MAX)
}

/// `at` moved back by `period`, saturating rather than overflowing.
pub fn before(at: NaiveDateTime, period: Duration) -> NaiveDateTime {
    chrono::Duration::from_std(period)
        .ok()
        .and_then(|period| at.checked_sub_signed(period))
        .unwrap_or(NaiveDateTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_keeps_microseconds_only() {
        let now = Clock::system().now_utc();
        assert_eq!(now.timestamp_subsec_nanos() % 1000, 0);
    }

    #[tokio::test]
    async fn a_manual_clock_stands_still_until_moved_and_wakes_sleepers() {
        let manual = ManualClock::starting_now();
        let clock = manual.clock();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(60)).await }
        });
        // Let the sleeper start counting from `start`.
        tokio::task::yield_now().await;
        manual.advance(Duration::from_secs(59));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke a second early");
        manual.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("the sleeper wakes")
            .unwrap();
        assert_eq!(clock.now(), after(start, Duration::from_secs(60)));
    }

    #[test]
    fn arithmetic_saturates() {
        let now = Clock::system().now();
        assert_eq!(after(now, Duration::MAX), NaiveDateTime::MAX);
        assert_eq!(before(now, Duration::MAX), NaiveDateTime::MIN);
    }
}
