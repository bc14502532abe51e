//! Parlor's black-box tests, one binary organised by feature: each module drives real
//! servers (in this process on port 0, or `parlor` processes of the binary under test) with
//! real HTTP and WebSocket clients, on real SQLite files and a real `redis-server`.

mod helpers;
mod private;
mod process;

mod abuse;
mod accounts;
mod cluster;
mod deployed;
mod events;
mod faults;
mod live;
mod mentions;
mod multiprocess;
mod reactions;
mod replies;
mod rooms;
mod search;
mod sessions;
mod shutdown;
mod store_contract;
mod transports;
mod websocket;
