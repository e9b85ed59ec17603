//! ESP SAs for JS: the same core the data plane uses, callable directly
//! (tests, benchmarks, tools).

use super::{error, Result};
use napi::bindgen_prelude::{Buffer, Uint32Array, Uint8Array};

use crate::io::js_views::{overlap, span, u32_mut, u8_mut};
use napi_derive::napi;

use crate::esp::{self, EspError, ReplayWindow, Suite};

/// Options for a new ESP SA.
#[napi(object)]
pub struct EspSaOptions {
    /// Security Parameter Index, as on the wire.
    pub spi: u32,
    /// A suite name such as `aes128-sha1`, `3des-md5`, `aes256-sha256_96`, `aes128gcm-16`.
    pub suite: String,
    /// Encryption KEYMAT; for AES-GCM the key followed by its 4-byte salt.
    pub encryption_key: Buffer,
    /// Integrity key; empty or absent for AES-GCM.
    pub integrity_key: Option<Buffer>,
    /// Anti-replay window in packets (multiple of 64, max 65536; 0 = off). Default 1024.
    pub replay_window: Option<u32>,
    /// 8 bytes that fix the IV sequence, for reproducible tests only.
    pub iv_seed: Option<Buffer>,
}

/// Packets in one Buffer: packet i is `data[offsets[i]..offsets[i + 1]]`.
#[napi(object)]
pub struct PacketBatch {
    pub data: Buffer,
    pub offsets: Uint32Array,
}

/// Result of opening a batch. Packet i's payload is
/// `data[offsets[i]..offsets[i + 1]]` when `status[i]` is 0; otherwise the
/// range is empty and `status[i]` says why it was dropped (see `espStatusCodes`).
#[napi(object)]
pub struct OpenedBatch {
    pub data: Buffer,
    pub offsets: Uint32Array,
    pub next_headers: Uint8Array,
    pub status: Uint8Array,
}

/// Counters of one SA.
#[napi(object)]
pub struct EspSaStats {
    pub packets_out: f64,
    pub bytes_out: f64,
    pub packets_in: f64,
    pub bytes_in: f64,
    pub icv_failures: f64,
    pub replays: f64,
    pub malformed: f64,
    pub last_seq_out: f64,
}

/// Names of per-packet statuses: `espStatusCodes()[status]`; index 0 is `OK`.
#[napi]
pub fn esp_status_codes() -> Vec<String> {
    std::iter::once("OK".to_string())
        .chain(EspError::ALL.iter().map(|e| e.code().to_string()))
        .collect()
}

/// Sizes of one suite's keys and packet fields, in bytes.
#[napi(object)]
pub struct EspSuiteInfo {
    pub name: String,
    pub aead: bool,
    /// KEYMAT for encryption; for AES-GCM the key plus its 4-byte salt.
    pub encryption_key_length: u32,
    pub integrity_key_length: u32,
    pub iv_length: u32,
    /// What the padded payload is aligned to.
    pub block_length: u32,
    pub icv_length: u32,
}

/// Key and field sizes of a suite; throws `ERR_ESP_UNKNOWN_SUITE`.
#[napi]
pub fn esp_suite_info(name: String) -> Result<EspSuiteInfo> {
    let suite = Suite::parse(&name).map_err(|e| error(e.code(), e.to_string()))?;
    Ok(EspSuiteInfo {
        name: suite.name(),
        aead: suite.is_aead(),
        encryption_key_length: suite.encryption_key_len() as u32,
        integrity_key_length: suite.integrity_key_len() as u32,
        iv_length: suite.iv_len() as u32,
        block_length: suite.block_len() as u32,
        icv_length: suite.icv_len() as u32,
    })
}

/// Every suite name an SA accepts.
#[napi]
pub fn esp_suites() -> Vec<String> {
    Suite::NAMES.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn batch_ranges(data: &[u8], offsets: &[u32]) -> Result<Vec<(usize, usize)>> {
    if offsets.is_empty() {
        return Err(error(
            "ERR_ESP_BATCH",
            "offsets must hold n + 1 boundaries (at least one value)",
        ));
    }
    let mut ranges = Vec::with_capacity(offsets.len() - 1);
    for (i, pair) in offsets.windows(2).enumerate() {
        let (start, end) = (pair[0] as usize, pair[1] as usize);
        if start > end || end > data.len() {
            return Err(error(
                "ERR_ESP_BATCH",
                format!(
                    "packet {i}: offsets {start}..{end} are decreasing or past the buffer ({} bytes)",
                    data.len()
                ),
            ));
        }
        ranges.push((start, end));
    }
    Ok(ranges)
}

/// Where a view's bytes are: (address, length in bytes).
/// Refuses a call whose `written` views share a byte with each other or
/// with a `read` view: JS may pass views of one ArrayBuffer for several
/// arguments, and a byte written through one must not be seen through another.
fn check_disjoint(written: &[(usize, usize)], read: &[(usize, usize)]) -> Result<()> {
    for (i, w) in written.iter().enumerate() {
        if written[i + 1..].iter().chain(read).any(|v| overlap(*w, *v)) {
            return Err(shared_memory());
        }
    }
    Ok(())
}

fn shared_memory() -> napi::Error<String> {
    error(
        "ERR_ESP_BATCH",
        "output arrays must not share memory with each other or with the input",
    )
}

/// Opens one packet: (next header, status, payload range); an empty range
/// and a non-zero status when it was dropped.
fn open_one(sa: &mut esp::EspSa, packet: &mut [u8]) -> (u8, u8, core::ops::Range<usize>) {
    match sa.open_in_place(packet) {
        Ok(opened) => (opened.next_header, 0, opened.payload),
        Err(e) => (0, e.status(), 0..0),
    }
}

/// One ESP security association in the data plane. The same object seals
/// (outbound sequence counter) and opens (inbound anti-replay window). Keys
/// cross into native memory once and are zeroed by `destroy()` or when the
/// object is collected.
///
/// Errors thrown carry a stable `code`: `ERR_ESP_UNKNOWN_SUITE`,
/// `ERR_ESP_KEY_LENGTH`, `ERR_ESP_WEAK_KEY`, `ERR_ESP_REPLAY_WINDOW`,
/// `ERR_ESP_BATCH`, `ERR_ESP_BUFFER_TOO_SMALL`, `ERR_ESP_SEQUENCE_EXHAUSTED`,
/// `ERR_ESP_SA_DESTROYED`. A malformed packet is never thrown: it is
/// dropped, counted, and reported by a per-packet status (`ESP_STATUS`).
#[napi]
pub struct EspSa {
    inner: Option<esp::EspSa>,
}

impl EspSa {
    fn sa(&mut self) -> Result<&mut esp::EspSa> {
        self.inner
            .as_mut()
            .ok_or_else(|| error("ERR_ESP_SA_DESTROYED", "this SA was destroyed"))
    }
}

#[napi]
impl EspSa {
    #[napi(constructor)]
    pub fn new(options: EspSaOptions) -> Result<Self> {
        let suite = Suite::parse(&options.suite).map_err(|e| error(e.code(), e.to_string()))?;
        let integrity_key = options.integrity_key.as_deref().unwrap_or(&[]);
        let window = options.replay_window.unwrap_or(ReplayWindow::DEFAULT_SIZE);
        let mut sa = esp::EspSa::new(
            options.spi,
            suite,
            &options.encryption_key,
            integrity_key,
            window,
        )
        .map_err(|e| error(e.code(), e.to_string()))?;
        if let Some(seed) = options.iv_seed {
            let seed: &[u8; esp::IV_SEED_LEN] = seed.as_ref().try_into().map_err(|_| {
                error(
                    "ERR_ESP_KEY_LENGTH",
                    format!(
                        "ivSeed must be {} bytes, got {}",
                        esp::IV_SEED_LEN,
                        seed.len()
                    ),
                )
            })?;
            sa = sa.with_iv_seed(seed);
        }
        Ok(Self { inner: Some(sa) })
    }

    #[napi(getter)]
    pub fn spi(&mut self) -> Result<u32> {
        Ok(self.sa()?.spi())
    }

    #[napi(getter)]
    pub fn suite(&mut self) -> Result<String> {
        Ok(self.sa()?.suite().name())
    }

    /// Bytes an ESP packet carrying `payloadLength` bytes takes.
    #[napi]
    pub fn sealed_length(&mut self, payload_length: u32) -> Result<u32> {
        Ok(self.sa()?.sealed_len(payload_length as usize) as u32)
    }

    /// Seals every payload of the batch with the same next header (4 IPv4,
    /// 41 IPv6, 17 UDP in transport mode, ...).
    #[napi]
    pub fn seal(
        &mut self,
        data: Buffer,
        offsets: Uint32Array,
        next_header: u8,
    ) -> Result<PacketBatch> {
        let ranges = batch_ranges(&data, &offsets)?;
        let sa = self.sa()?;
        let total: usize = ranges.iter().map(|(s, e)| sa.sealed_len(e - s)).sum();
        let mut out = vec![0u8; total];
        let mut out_offsets = Vec::with_capacity(ranges.len() + 1);
        let mut at = 0usize;
        out_offsets.push(0u32);
        for (start, end) in ranges {
            let n = sa
                .seal(&data[start..end], next_header, &mut out[at..])
                .map_err(|e| error(&format!("ERR_{}", e.code()), e.to_string()))?;
            at += n;
            out_offsets.push(at as u32);
        }
        Ok(PacketBatch {
            data: out.into(),
            offsets: out_offsets.into(),
        })
    }

    /// Seals into a caller-owned buffer: `out` receives the packets back to
    /// back and `outOffsets` (length n + 1) their boundaries. Returns the
    /// bytes written. Throws `ERR_ESP_BUFFER_TOO_SMALL` before sealing
    /// anything when `out` or `outOffsets` cannot hold the batch.
    #[napi]
    pub fn seal_into(
        &mut self,
        data: Buffer,
        offsets: Uint32Array,
        next_header: u8,
        mut out: Buffer,
        mut out_offsets: Uint32Array,
    ) -> Result<u32> {
        let ranges = batch_ranges(&data, &offsets)?;
        let sa = self.sa()?;
        let total: usize = ranges.iter().map(|(s, e)| sa.sealed_len(e - s)).sum();
        if out.len() < total || out_offsets.len() < ranges.len() + 1 {
            return Err(error(
                "ERR_ESP_BUFFER_TOO_SMALL",
                format!(
                    "batch needs {total} bytes and {} offsets; got {} and {}",
                    ranges.len() + 1,
                    out.len(),
                    out_offsets.len()
                ),
            ));
        }
        check_disjoint(
            &[span(&out), span(&out_offsets)],
            &[span(&data), span(&offsets)],
        )?;
        let others = [span(&out), span(&data), span(&offsets)];
        let out_offsets = u32_mut(&mut out_offsets, &others).ok_or_else(shared_memory)?;
        let mut at = 0usize;
        out_offsets[0] = 0;
        for (i, (start, end)) in ranges.into_iter().enumerate() {
            let n = sa
                .seal(&data[start..end], next_header, &mut out[at..])
                .map_err(|e| error(&format!("ERR_{}", e.code()), e.to_string()))?;
            at += n;
            out_offsets[i + 1] = at as u32;
        }
        Ok(at as u32)
    }

    /// Opens every packet of the batch; bad packets are dropped, counted,
    /// and reported in `status`, never thrown. Copies the payloads into a
    /// new Buffer; `openInPlace` allocates nothing.
    #[napi]
    pub fn open(&mut self, data: Buffer, offsets: Uint32Array) -> Result<OpenedBatch> {
        let ranges = batch_ranges(&data, &offsets)?;
        let sa = self.sa()?;
        let mut out = Vec::with_capacity(data.len());
        let mut out_offsets = Vec::with_capacity(ranges.len() + 1);
        let mut next_headers = Vec::with_capacity(ranges.len());
        let mut status = Vec::with_capacity(ranges.len());
        let mut scratch = Vec::new();
        out_offsets.push(0u32);
        for (start, end) in ranges {
            scratch.clear();
            scratch.extend_from_slice(&data[start..end]);
            let (nh, st, payload) = open_one(sa, &mut scratch);
            out.extend_from_slice(&scratch[payload]);
            next_headers.push(nh);
            status.push(st);
            out_offsets.push(out.len() as u32);
        }
        Ok(OpenedBatch {
            data: out.into(),
            offsets: out_offsets.into(),
            next_headers: next_headers.into(),
            status: status.into(),
        })
    }

    /// Opens every packet of the batch where it lies in `data` (which is
    /// overwritten with plaintext). For packet i, its payload is now
    /// `data[payloads[2i]..payloads[2i + 1]]` (empty when dropped), and
    /// `nextHeaders[i]`, `status[i]` are as for `open`. Returns how many
    /// opened. Throws `ERR_ESP_BUFFER_TOO_SMALL` when the result arrays are
    /// shorter than the batch.
    #[napi]
    pub fn open_in_place(
        &mut self,
        mut data: Buffer,
        offsets: Uint32Array,
        mut payloads: Uint32Array,
        mut next_headers: Uint8Array,
        mut status: Uint8Array,
    ) -> Result<u32> {
        let ranges = batch_ranges(&data, &offsets)?;
        let n = ranges.len();
        if payloads.len() < 2 * n || next_headers.len() < n || status.len() < n {
            return Err(error(
                "ERR_ESP_BUFFER_TOO_SMALL",
                format!(
                    "a batch of {n} needs payloads[{}], nextHeaders[{n}], status[{n}]; got {}, {}, {}",
                    2 * n,
                    payloads.len(),
                    next_headers.len(),
                    status.len()
                ),
            ));
        }
        check_disjoint(
            &[
                span(&data),
                span(&payloads),
                span(&next_headers),
                span(&status),
            ],
            &[span(&offsets)],
        )?;
        let sa = self.sa()?;
        let (d, o) = (span(&data), span(&offsets));
        let (p, h, st) = (span(&payloads), span(&next_headers), span(&status));
        let payloads = u32_mut(&mut payloads, &[d, o, h, st]).ok_or_else(shared_memory)?;
        let next_headers = u8_mut(&mut next_headers, &[d, o, p, st]).ok_or_else(shared_memory)?;
        let status = u8_mut(&mut status, &[d, o, p, h]).ok_or_else(shared_memory)?;
        let mut opened = 0;
        for (i, (start, end)) in ranges.into_iter().enumerate() {
            let (nh, st, payload) = open_one(sa, &mut data[start..end]);
            payloads[2 * i] = (start + payload.start) as u32;
            payloads[2 * i + 1] = (start + payload.end) as u32;
            next_headers[i] = nh;
            status[i] = st;
            opened += u32::from(st == 0);
        }
        Ok(opened)
    }

    #[napi]
    pub fn stats(&mut self) -> Result<EspSaStats> {
        let sa = self.sa()?;
        let c = sa.counters();
        Ok(EspSaStats {
            packets_out: c.packets_out as f64,
            bytes_out: c.bytes_out as f64,
            packets_in: c.packets_in as f64,
            bytes_in: c.bytes_in as f64,
            icv_failures: c.icv_failures as f64,
            replays: c.replays as f64,
            malformed: c.malformed as f64,
            last_seq_out: sa.last_seq_out() as f64,
        })
    }

    /// Zeroes the keys now instead of when the garbage collector runs; any
    /// later call throws `ERR_ESP_SA_DESTROYED`.
    #[napi]
    pub fn destroy(&mut self) {
        self.inner = None;
    }
}
