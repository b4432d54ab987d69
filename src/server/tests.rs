//! The server's unit tests: the cap, the share rule, stopping.

use super::{
    accept_failure, fit_to_open_files, listen, room_for, Accepted, Admitted, Handler, Limits,
    LiveConnections, MadeRoom, Room, Server, Throttle,
};
use crate::log::Log;
use crate::wire::connection::{Closer, Connection};
use crate::wire::protocol::Message;
use crate::{lock, Result};
use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn listener() -> TcpListener {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap()
}

fn echo_pong() -> Handler {
    Arc::new(|mut connection: Connection| {
        let _ = connection.send(&Message::Pong);
    })
}

/// Reads until the server closes the connection; returns what it sent.
fn read_all(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn each_connection_is_served_and_stop_ends_everything() {
    let mut server = Server::start(
        listener(),
        Limits::new(4, 1024),
        Log::new("test", false),
        echo_pong(),
    )
    .unwrap();
    assert_eq!(read_all(server.local_addr()), "PONG\n");
    server.stop();
    assert_eq!(server.connection_count(), 0);
    assert!(
        TcpStream::connect(server.local_addr()).is_err(),
        "no longer listening"
    );
}

#[test]
fn a_thread_that_cannot_start_costs_one_connection_not_the_server() {
    // No machine has 64 TiB for a stack: every spawn fails.
    let limits = Limits {
        stack_size: 1 << 46,
        ..Limits::new(4, 1024)
    };
    let server = Server::start(listener(), limits, Log::new("test", false), echo_pong()).unwrap();
    for _ in 0..3 {
        assert_eq!(
            read_all(server.local_addr()),
            "",
            "closed without an answer"
        );
    }
    assert_eq!(
        server.connection_count(),
        0,
        "the failed connections are not counted"
    );
}

#[test]
fn an_address_over_its_share_makes_room_for_one_under_it_when_full() {
    let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
        "127.0.0.1".parse().unwrap(),
        "127.0.0.2".parse().unwrap(),
        "127.0.0.3".parse().unwrap(),
    );
    let counts = |pairs: &[(IpAddr, usize)]| pairs.iter().copied().collect::<HashMap<_, _>>();
    // A cap of 8: a share of 2.
    assert_eq!(room_for(&counts(&[(a, 7)]), 7, 8, a), Room::Free);
    assert_eq!(room_for(&counts(&[(a, 8)]), 8, 8, a), Room::Busy);
    assert_eq!(room_for(&counts(&[(a, 8)]), 8, 8, b), Room::TakeFrom(a));
    assert_eq!(
        room_for(&counts(&[(a, 6), (b, 2)]), 8, 8, b),
        Room::Busy,
        "b has its share already"
    );
    assert_eq!(
        room_for(&counts(&[(a, 6), (b, 2)]), 8, 8, c),
        Room::TakeFrom(a)
    );
    assert_eq!(
        room_for(
            &counts(&[(a, 2), (b, 2), (c, 2), ("::1".parse().unwrap(), 2)]),
            8,
            8,
            "10.0.0.1".parse().unwrap()
        ),
        Room::Busy,
        "nobody holds more than a share"
    );
    // A cap under the divisor still gives each address one.
    assert_eq!(room_for(&counts(&[(a, 2)]), 2, 2, b), Room::TakeFrom(a));
}

/// An accepted socket that says it came from `from`, and, when
/// `settled` is given, may make room until its request is in.
struct FakeSource {
    socket: Arc<TcpStream>,
    from: SocketAddr,
    settled: Option<Arc<AtomicBool>>,
}

impl Accepted for FakeSource {
    fn accept(_: TcpStream, _: &Log, _: usize) -> Result<FakeSource> {
        unreachable!("made by the test")
    }
    fn closer(&self) -> Closer {
        Closer::for_socket(Arc::clone(&self.socket))
    }
    fn other_end(&self) -> SocketAddr {
        self.from
    }
    fn settled(&self) -> Option<Arc<AtomicBool>> {
        self.settled.clone()
    }
    fn refuse_busy(self) -> Result<()> {
        Ok(())
    }
}

#[test]
fn the_newest_connection_of_the_address_that_holds_most_is_closed_for_a_newcomer() {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let live = Arc::new(LiveConnections::default());
    // Returns our end of a new connection, and what `admit` made of it.
    let connect_from = |from: &str| {
        let client = TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let socket = Arc::new(listener.accept().unwrap().0);
        let from = format!("{from}:40000").parse().unwrap();
        let fake = FakeSource {
            socket,
            from,
            settled: None,
        };
        (client, live.admit(&fake, 4))
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        let (client, admitted) = connect_from("127.0.0.1");
        assert!(
            matches!(admitted, Admitted::In(_, MadeRoom::Nobody)),
            "a free slot"
        );
        held.push((client, admitted));
    }
    let (_, fifth) = connect_from("127.0.0.1");
    assert!(matches!(fifth, Admitted::Busy), "127.0.0.1 filled the cap");
    let (_newcomer, admitted) = connect_from("127.0.0.2");
    let Admitted::In(_admission, MadeRoom::OverShare(hog)) = admitted else {
        panic!("127.0.0.2 is let in");
    };
    assert_eq!(hog.to_string(), "127.0.0.1");
    assert_eq!(lock(&live.live).len(), 4, "the cap holds");
    // The newest of 127.0.0.1's was closed; the others are open.
    let (mut newest, _) = held.pop().unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(newest.read(&mut byte).unwrap(), 0, "closed");
    for (client, _) in &held {
        client.set_nonblocking(true).unwrap();
        let still_open = (&*client).read(&mut byte).unwrap_err().kind();
        assert_eq!(still_open, std::io::ErrorKind::WouldBlock);
    }
}

#[test]
fn a_cap_over_the_open_file_limit_is_lowered_to_fit() {
    let log = Log::new("test", false);
    let peer = Limits {
        files_per_connection: 2,
        ..Limits::new(128, 1024)
    };
    // 256 files: 32 kept back, 2 a connection.
    assert_eq!(
        fit_to_open_files(peer, Some(256), &log).max_connections,
        112
    );
    assert_eq!(
        fit_to_open_files(peer, Some(1024), &log).max_connections,
        128
    );
    let tracker = Limits::new(12_000, 1024);
    assert_eq!(
        fit_to_open_files(tracker, Some(1024), &log).max_connections,
        992
    );
    // An unknown limit keeps the cap.
    assert_eq!(
        fit_to_open_files(tracker, None, &log).max_connections,
        12_000
    );
}

#[test]
fn a_repeating_failure_is_logged_once_a_second_with_a_count() {
    let mut throttle = Throttle::new(Duration::from_secs(1));
    let start = Instant::now();
    let at = |ms| start + Duration::from_millis(ms);
    assert_eq!(throttle.allow(at(0)), Some(0), "the first one is shown");
    // 20 a second, as a failing accept loop would.
    let shown: Vec<Option<u64>> = (1..=40).map(|n| throttle.allow(at(n * 50))).collect();
    let lines: Vec<u64> = shown.iter().flatten().copied().collect();
    assert_eq!(
        lines,
        [19, 19],
        "one line a second, each counting the 19 held back"
    );
    let message = accept_failure(&std::io::Error::other("no"), 19);
    assert_eq!(
        message,
        "could not accept a connection: no (19 more failure(s) since the last line)"
    );
}

#[test]
fn listening_on_an_address_this_machine_lacks_says_so() {
    // 203.0.113.77 is TEST-NET-3 (RFC 5737): no machine has it, and binding
    // it fails at once, without a packet sent.
    let addr: SocketAddr = "203.0.113.77:5001".parse().unwrap();
    let message = listen(addr, "lab.txt, line 3").unwrap_err().to_string();
    assert!(
        message.starts_with("cannot listen on 203.0.113.77:5001: "),
        "{message}"
    );
    assert!(
        message.contains("this machine has no address 203.0.113.77")
            && message.contains("fix that address in lab.txt, line 3"),
        "{message}"
    );
}

#[test]
fn when_full_the_oldest_connection_without_its_request_makes_room_first() {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let live = Arc::new(LiveConnections::default());
    let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    // Returns our end, the connection's flag, and what `admit` made of it.
    let connect = || {
        let client = TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let socket = Arc::new(listener.accept().unwrap().0);
        let settled = Arc::new(AtomicBool::new(false));
        let fake = FakeSource {
            socket,
            from,
            settled: Some(Arc::clone(&settled)),
        };
        (client, settled, live.admit(&fake, 4))
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect());
    }
    // The first two sent their request; the last two never do.
    held[0].1.store(true, Ordering::SeqCst);
    held[1].1.store(true, Ordering::SeqCst);
    let (_owner, settled, admitted) = connect();
    assert!(
        matches!(admitted, Admitted::In(_, MadeRoom::Unsent(_))),
        "the newcomer from the same address is let in"
    );
    assert_eq!(lock(&live.live).len(), 4, "the cap holds");
    let mut byte = [0u8; 1];
    assert_eq!(
        (&held[2].0).read(&mut byte).unwrap(),
        0,
        "the oldest silent one is closed"
    );
    for (client, _, _) in [&held[0], &held[1], &held[3]] {
        client.set_nonblocking(true).unwrap();
        let open = (&*client).read(&mut byte).unwrap_err().kind();
        assert_eq!(open, std::io::ErrorKind::WouldBlock, "the others are open");
    }
    // Once everyone has sent a request, a newcomer from the same address
    // is busy: the share rule is all that is left, and it is within it.
    settled.store(true, Ordering::SeqCst);
    held[3].1.store(true, Ordering::SeqCst);
    let (_late, _, admitted) = connect();
    assert!(matches!(admitted, Admitted::Busy));
}
