//! Shopify's calculated-cost leaky bucket (SHOPIFY.md §2): a request is charged its
//! requested cost up front, refused as THROTTLED when the bucket holds less, and refunded
//! the difference to its actual cost afterwards. Time is `tokio::time::Instant` so tests
//! can pause and advance the clock.

use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct Bucket {
    pub maximum: f64,
    pub restore_rate: f64,
    available: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(maximum: f64, restore_rate: f64) -> Bucket {
        Bucket {
            maximum,
            restore_rate,
            available: maximum,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64();
        self.available = (self.available + secs * self.restore_rate).min(self.maximum);
        self.last = now;
    }

    /// Charges `cost` if the bucket holds it; `false` (nothing charged) otherwise.
    pub fn try_take(&mut self, cost: f64) -> bool {
        self.refill();
        if cost > self.available {
            return false;
        }
        self.available -= cost;
        true
    }

    pub fn refund(&mut self, amount: f64) {
        self.available = (self.available + amount.max(0.0)).min(self.maximum);
    }

    /// Points available now, after refilling.
    pub fn available(&mut self) -> f64 {
        self.refill();
        self.available
    }
}
