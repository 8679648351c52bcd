//! Long requests do not hold up short ones: with the default `--pool`, splunkd-dev starts
//! another driver while the others are busy, and with `--pool N` it never runs more than N.
//! Requests are held busy by `POST test_container_connection` against a TCP listener of this
//! test that accepts and never answers (the driver waits for the engine until its timeout).

mod common;

use common::devserver::*;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A "Docker engine" that accepts connections and never replies; counts the connections.
fn silent_engine() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let url = format!("tcp://{}", listener.local_addr().expect("local address"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, accepted)
}

/// Starts `n` requests that stay busy in their drivers; returns once `n` drivers run and the
/// engine has been called (a driver may open more than one connection per request).
fn hold_busy(s: &DevServer, n: usize) -> Vec<std::thread::JoinHandle<Resp>> {
    let (engine, accepted) = silent_engine();
    let handles = (0..n)
        .map(|_| {
            let url = format!("{}/services/mltk/test_container_connection", s.url);
            let (basic, engine) = (s.basic(), engine.clone());
            std::thread::spawn(move || {
                curl(
                    &[
                        "-u",
                        &basic,
                        "-d",
                        "container_type=docker",
                        "--data-urlencode",
                        &format!("docker_url={engine}"),
                        &url,
                    ],
                    &[],
                )
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted.load(Ordering::SeqCst) < n || s.drivers().len() < n {
        assert!(
            Instant::now() < deadline,
            "{} connections to the engine, drivers {:?}, {n} requests",
            accepted.load(Ordering::SeqCst),
            s.drivers()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    handles
}

fn timed_index(s: &DevServer) -> (Resp, Duration) {
    let started = Instant::now();
    let r = get_as(s, &["-u", &s.basic()], "/services/mltk?output_mode=json");
    (r, started.elapsed())
}

#[test]
fn a_short_request_is_not_queued_behind_long_ones() {
    let s = DevServer::start("pool-grows", &[]);
    let busy = hold_busy(&s, 4);
    let (r, took) = timed_index(&s);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        took < Duration::from_secs(2),
        "GET /mltk waited {took:?} behind 4 long requests"
    );
    assert!(s.drivers().len() >= 5, "drivers: {:?}", s.drivers());
    drop(busy);
}

#[test]
fn the_pool_cap_is_respected() {
    let s = DevServer::start("pool-cap", &["--pool", "2"]);
    let busy = hold_busy(&s, 2);
    assert_eq!(s.drivers().len(), 2, "drivers: {:?}", s.drivers());
    let (r, took) = timed_index(&s);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        took >= Duration::from_secs(2),
        "GET /mltk was answered in {took:?} although both drivers were busy"
    );
    for h in busy {
        let r = h.join().expect("busy request");
        assert_ne!(r.status, 200, "the silent engine cannot pass the test");
    }
    assert!(s.drivers().len() <= 2, "drivers: {:?}", s.drivers());
}

/// How many connections splunkd-dev has accepted so far (it logs each one).
fn accepted_connections(s: &DevServer) -> usize {
    let log =
        std::fs::read_to_string(s.home.join("var/log/splunk/splunkd.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("accepted connection from"))
        .count()
}

#[test]
fn a_warm_driver_reuses_its_splunkd_connections() {
    let s = DevServer::start("keepalive", &["--pool", "1"]);
    seed_stanza(&s, "dsdl_container", "kept", &[("mode", "PROD")]);
    let poll = || {
        let r = admin_request(
            &s,
            "GET",
            "/services/mltk/container_data?output_mode=json",
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.body);
    };
    for _ in 0..3 {
        poll();
    }
    let before = accepted_connections(&s);
    const POLLS: usize = 10;
    for _ in 0..POLLS {
        poll();
    }
    // Each poll is one curl connection; the driver's own calls to splunkd (the records, and
    // the toolkit check now and then) go over connections it already has.
    let opened = accepted_connections(&s) - before;
    assert!(
        opened <= POLLS + 1,
        "{POLLS} polls opened {opened} connections to splunkd-dev (curl's own: {POLLS})"
    );
}
