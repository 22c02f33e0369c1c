//! How long to wait before retrying a transient failure.

use std::time::Duration;

/// Longest wait between retries, whatever the server asks.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The wait before attempt `attempt + 1`: the server's `Retry-After` when it gave one,
/// else exponential backoff with jitter; never more than [`MAX_BACKOFF`].
pub(super) fn wait(attempt: u32, retry_after: Option<Duration>) -> Duration {
    retry_after
        .unwrap_or_else(|| exponential(attempt, rand::random_range(0.0..=1.0)))
        .min(MAX_BACKOFF)
}

/// Exponential backoff with jitter: 0.5 s, 1 s, 2 s … before jitter; `jitter` in [0, 1]
/// moves it between ¾ and 1¼ of that.
fn exponential(attempt: u32, jitter: f64) -> Duration {
    let base = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    let spread = (base as f64 / 2.0 * jitter) as u64;
    Duration::from_millis(base / 2 + base / 4 + spread).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_band() {
        for attempt in 1..6 {
            let base = 500 * (1u64 << (attempt - 1));
            let low = exponential(attempt, 0.0).as_millis() as u64;
            let high = exponential(attempt, 1.0).as_millis() as u64;
            assert_eq!(low, base * 3 / 4, "attempt {attempt}");
            assert_eq!(high, base * 3 / 4 + base / 2, "attempt {attempt}");
        }
    }

    #[test]
    fn backoff_is_capped() {
        assert_eq!(exponential(30, 1.0), MAX_BACKOFF);
        assert_eq!(wait(2, Some(Duration::from_secs(3600))), MAX_BACKOFF);
    }

    #[test]
    fn retry_after_wins_over_backoff() {
        assert_eq!(
            wait(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }
}
