//! The persistent driver loop: read a packet, answer it, flush, repeat.
//!
//! Exactly one init reply per INIT and one data reply per BLOCK (a 413 for a block over the
//! cap), flushed per packet; END is silent. A framing or sequencing error ends the loop with an error (the process exits
//! non-zero and splunkd starts a fresh one) rather than risk answering out of step.

use crate::protocol::frame::{self, FrameError, FrameReader, Init, OP_END, OP_INIT, Packet};
use crate::service::Service;
use std::fmt;
use std::io::{self, BufRead, Write};

/// Why the loop stopped before a clean end of input.
#[derive(Debug)]
pub enum DriverError {
    /// The input was not valid framing.
    Frame(FrameError),
    /// Valid frames in an impossible order (INIT while a request is open, BLOCK or END with
    /// none open).
    Sequence(&'static str),
    /// Writing the reply failed (splunkd went away).
    Write(io::Error),
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Frame(e) => write!(f, "protocol error: {e}"),
            DriverError::Sequence(what) => write!(f, "protocol error: {what}"),
            DriverError::Write(e) => write!(f, "writing a reply failed: {e}"),
        }
    }
}

impl std::error::Error for DriverError {}

/// Serves packets from `input` until a clean end of stream.
pub fn serve<R: BufRead, W: Write>(
    input: R,
    mut output: W,
    service: &mut Service,
    limits: frame::Limits,
) -> Result<(), DriverError> {
    let mut reader = FrameReader::new(input, limits);
    let mut open: Option<Init> = None;
    let mut out = Vec::with_capacity(4096);
    loop {
        let packet = match reader.read_packet().map_err(DriverError::Frame)? {
            Some(p) => p,
            None => return Ok(()),
        };
        out.clear();
        let result = answer(&packet, &mut open, service, &mut out);
        // Whatever was answered before a sequencing error still goes out, so splunkd sees a
        // complete init reply rather than silence.
        if !out.is_empty() {
            output.write_all(&out).map_err(DriverError::Write)?;
            output.flush().map_err(DriverError::Write)?;
        }
        result?;
    }
}

/// Appends the replies one packet needs to `out`.
fn answer(
    packet: &Packet,
    open: &mut Option<Init>,
    service: &mut Service,
    out: &mut Vec<u8>,
) -> Result<(), DriverError> {
    if let Some(init) = &packet.init {
        if open.is_some() {
            let _ = frame::write_string(out, b"INIT received while a request is still open");
            return Err(DriverError::Sequence(
                "INIT received while a request is open",
            ));
        }
        let _ = frame::write_string(out, b"");
        *open = Some(init.clone());
    }
    if packet.has_block() && open.is_none() {
        return Err(DriverError::Sequence("BLOCK received with no open request"));
    }
    if let Some(block) = &packet.block {
        let reply = service.handle_block(block);
        let _ = frame::write_string(out, &reply);
    }
    if let Some(oversized) = &packet.oversized {
        let reply = service.oversized_block(oversized);
        let _ = frame::write_string(out, &reply);
    }
    if packet.opcode & OP_END != 0 {
        if open.is_none() && packet.opcode & OP_INIT == 0 {
            return Err(DriverError::Sequence("END received with no open request"));
        }
        *open = None;
    }
    Ok(())
}
