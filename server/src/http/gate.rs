//! A gate that counts what each client address holds open — TCP connections, or the
//! WebSockets, SSE streams and waiting long polls among them — with a cap per address and in
//! total. One client (one IPv4 address, one IPv6 /64) cannot take every slot of the process.

use crate::limits::network_of;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why the gate refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// Every slot of the process is taken.
    Total,
    /// This address holds its share already.
    PerAddress,
}

/// The gate. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

struct Inner {
    /// Slots per address (0: no per-address cap).
    per_address: u32,
    /// All slots.
    total: Arc<Semaphore>,
    /// How many there are.
    capacity: u32,
    /// Slots held, by address (its network, see [`network_of`]).
    held: Mutex<HashMap<IpAddr, u32>>,
}

/// A slot, held until dropped.
pub struct Pass {
    inner: Arc<Inner>,
    address: Option<IpAddr>,
    _slot: OwnedSemaphorePermit,
}

impl Gate {
    /// A gate of `capacity` slots, at most `per_address` for one address (0: no cap).
    pub fn new(capacity: usize, per_address: u32) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS) as u32;
        Self {
            inner: Arc::new(Inner {
                per_address,
                total: Arc::new(Semaphore::new(capacity as usize)),
                capacity,
                held: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Takes a slot for `address` (a connection without one counts in the total only).
    pub fn enter(&self, address: Option<IpAddr>) -> Result<Pass, Full> {
        let address = address.map(network_of);
        if let (Some(address), true) = (address, self.inner.per_address > 0) {
            let mut held = self.inner.held();
            let count = held.entry(address).or_insert(0);
            if *count >= self.inner.per_address {
                return Err(Full::PerAddress);
            }
            *count += 1;
        }
        let pass = |slot| Pass {
            inner: self.inner.clone(),
            address: address.filter(|_| self.inner.per_address > 0),
            _slot: slot,
        };
        match self.inner.total.clone().try_acquire_owned() {
            Ok(slot) => Ok(pass(slot)),
            Err(_) => {
                if let (Some(address), true) = (address, self.inner.per_address > 0) {
                    self.inner.release(address);
                }
                Err(Full::Total)
            }
        }
    }

    /// How many slots are taken.
    pub fn in_use(&self) -> usize {
        self.inner.capacity as usize - self.inner.total.available_permits()
    }

    /// Waits until every slot is back, or `within` passes; whether they all came back.
    pub async fn wait_empty(&self, within: Duration) -> bool {
        let all = self.inner.total.acquire_many(self.inner.capacity);
        matches!(tokio::time::timeout(within, all).await, Ok(Ok(_)))
    }
}

impl Inner {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        self.held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn release(&self, address: IpAddr) {
        let mut held = self.held();
        if let Some(count) = held.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&address);
            }
        }
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if let Some(address) = self.address {
            self.inner.release(address);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_and_the_total_holds() {
        let gate = Gate::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let first = gate.enter(Some(a)).expect("first");
        let _second = gate.enter(Some(a)).expect("second");
        assert_eq!(gate.enter(Some(a)).err(), Some(Full::PerAddress));
        let _third = gate.enter(Some(b)).expect("another address");
        assert_eq!(gate.enter(Some(b)).err(), Some(Full::Total));
        assert_eq!(gate.in_use(), 3);
        drop(first);
        assert!(gate.enter(Some(a)).is_ok(), "a slot came back");
    }

    #[test]
    fn an_ipv6_slash_64_is_one_address_and_zero_means_no_share() {
        let gate = Gate::new(10, 1);
        let one: IpAddr = "2001:db8::1".parse().expect("ip");
        let other: IpAddr = "2001:db8::2".parse().expect("ip");
        let _held = gate.enter(Some(one)).expect("first");
        assert_eq!(gate.enter(Some(other)).err(), Some(Full::PerAddress));
        let open = Gate::new(2, 0);
        let _x = open.enter(Some(one)).expect("x");
        let _y = open.enter(Some(one)).expect("y");
        assert_eq!(open.enter(Some(one)).err(), Some(Full::Total));
    }
}
