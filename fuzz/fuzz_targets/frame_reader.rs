//! The frame reader over arbitrary bytes: packets are read until the end of input or an error.
//! It must never panic, everything it returns must respect the limits and the opcode's flags,
//! and every packet but one with an oversized (dropped) block must survive a round trip
//! through the encoder.
#![no_main]

use dsdl_handler::protocol::frame::{FrameReader, Limits, OP_BLOCK, OP_INIT, encode_packet};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_block: 1 << 20,
    max_command_string: 4096,
    max_commands: 64,
};

fuzz_target!(|data: &[u8]| {
    let mut reader = FrameReader::new(data, LIMITS);
    // Every packet consumes at least its opcode byte, so the loop ends.
    while let Ok(Some(packet)) = reader.read_packet() {
        assert!(packet.opcode <= 0x0F, "only the low four bits are kept");
        assert_eq!(packet.init.is_some(), packet.opcode & OP_INIT != 0);
        assert_eq!(packet.has_block(), packet.opcode & OP_BLOCK != 0);
        if let Some(init) = &packet.init {
            assert!(init.command.len() <= LIMITS.max_commands);
            for c in &init.command {
                assert!(c.len() <= LIMITS.max_command_string);
            }
            assert_ne!(init.command_arg.as_deref(), Some(""), "empty means none");
        }
        if let Some(block) = &packet.block {
            assert!(block.len() <= LIMITS.max_block);
        }
        if let Some(o) = &packet.oversized {
            // Read past and dropped: only its head is kept, so it cannot round-trip.
            assert!(o.len > LIMITS.max_block as u64 && packet.block.is_none());
            continue;
        }
        let mut wire = encode_packet(packet.opcode, packet.init.as_ref(), packet.block.as_deref());
        if wire[0] == b'\n' {
            // Opcode 0x0A is a blank line on the wire and cannot be sent raw; send it as the
            // printable ':' (0x3A), which has the same low bits.
            wire[0] |= 0x30;
        }
        let again = FrameReader::new(&wire[..], LIMITS).read_packet();
        assert_eq!(again.ok().flatten().as_ref(), Some(&packet), "round trip");
    }
});
