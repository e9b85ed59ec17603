//! IKE cryptography for lib/ike (see `crate::ike`): ECP Diffie-Hellman,
//! the PRF, the AES-CBC of message bodies. Inputs are borrowed views (`&[u8]`:
//! no copy, no reference kept); outputs are new Node Buffers.

use napi::bindgen_prelude::{Buffer, BufferSlice};
use napi::Env;
use napi_derive::napi;

use super::{error, Result};
use crate::ike::{self, EcdhError, EcdhKeyPair, PrfHash};

fn thrown(e: EcdhError) -> napi::Error<String> {
    error(e.code(), e.to_string())
}

/// Our half of one ECP Diffie-Hellman exchange in IKE group 19, 20 or 21
/// (RFC 5903): public value x | y, shared secret the x coordinate.
#[napi]
pub struct IkeEcdh {
    pair: Option<EcdhKeyPair>,
}

#[napi]
impl IkeEcdh {
    /// A fresh key pair, or with `privateKey` (big-endian scalar) a known
    /// one for test vectors. Throws IKE_UNKNOWN_GROUP or IKE_BAD_PRIVATE_KEY.
    #[napi(constructor)]
    pub fn new(group: u32, private_key: Option<Buffer>) -> Result<Self> {
        let pair = match private_key {
            Some(k) => EcdhKeyPair::from_private(group, &k),
            None => EcdhKeyPair::generate(group),
        }
        .map_err(thrown)?;
        Ok(IkeEcdh { pair: Some(pair) })
    }

    fn pair(&self) -> Result<&EcdhKeyPair> {
        self.pair
            .as_ref()
            .ok_or_else(|| error("IKE_BAD_PRIVATE_KEY", "the key pair was destroyed"))
    }

    /// x | y as the KE payload carries it.
    #[napi]
    pub fn public_key(&self) -> Result<Buffer> {
        Ok(self.pair()?.public_value().to_vec().into())
    }

    /// Bits of the private scalar.
    #[napi]
    pub fn private_key_bits(&self) -> Result<u32> {
        self.pair()?.private_key_bits().map_err(thrown)
    }

    /// The x coordinate of the shared point; throws IKE_BAD_KE for a value
    /// of the wrong length or off the curve.
    #[napi]
    pub fn compute_secret(&self, peer_public: Buffer) -> Result<Buffer> {
        Ok(self
            .pair()?
            .shared_secret(&peer_public)
            .map_err(thrown)?
            .into())
    }

    /// Frees the private scalar (aws-lc wipes it); no secret after this.
    #[napi]
    pub fn destroy(&mut self) {
        self.pair = None;
    }
}

/// IKEv1's prf(key, a | b | ...) (RFC 2409 section 5): the HMAC of `hash`
/// (1 = SHA-1, 256, 384, 512 = SHA-2) over up to seven parts; throws
/// IKE_BAD_ARGUMENT for another hash.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn ike_prf<'env>(
    env: &'env Env,
    hash: u32,
    key: &[u8],
    a: &[u8],
    b: Option<&[u8]>,
    c: Option<&[u8]>,
    d: Option<&[u8]>,
    e: Option<&[u8]>,
    f: Option<&[u8]>,
    g: Option<&[u8]>,
) -> Result<BufferSlice<'env>> {
    let hash = PrfHash::from_id(hash)
        .ok_or_else(|| error("IKE_BAD_ARGUMENT", format!("no native PRF for hash {hash}")))?;
    let mut parts: [&[u8]; 7] = [a, &[], &[], &[], &[], &[], &[]];
    for (slot, part) in parts[1..].iter_mut().zip([b, c, d, e, f, g]) {
        *slot = part.unwrap_or(&[]);
    }
    let tag = ike::prf(hash, key, &parts);
    BufferSlice::copy_from(env, tag.as_ref()).map_err(|e| error("IKE_NATIVE", e.reason.clone()))
}

/// SKEYID_d | SKEYID_a | SKEYID_e (RFC 2409 section 5) in one Buffer, from
/// SKEYID, g^xy and the cookies, under one HMAC key (`hash` as for
/// ikePrf): one call where three PRFs were.
#[napi]
pub fn ike_skeyids<'env>(
    env: &'env Env,
    hash: u32,
    skeyid: &[u8],
    gxy: &[u8],
    cky_i: &[u8],
    cky_r: &[u8],
) -> Result<BufferSlice<'env>> {
    let hash = PrfHash::from_id(hash)
        .ok_or_else(|| error("IKE_BAD_ARGUMENT", format!("no native PRF for hash {hash}")))?;
    let tags = ike::skeyids(hash, skeyid, gxy, cky_i, cky_r);
    let mut out = Vec::with_capacity(3 * tags[0].as_ref().len());
    for tag in &tags {
        out.extend_from_slice(tag.as_ref());
    }
    let buffer =
        BufferSlice::copy_from(env, &out).map_err(|e| error("IKE_NATIVE", e.reason.clone()));
    // The keys' bytes leave no copy behind on the heap.
    out.fill(0);
    buffer
}

/// AES-CBC over whole blocks (the caller pads), key of 16, 24 or 32
/// bytes; a new Buffer, `data` is left alone. Throws IKE_BAD_KEY_LENGTH,
/// IKE_BAD_IV or IKE_BAD_CIPHERTEXT.
#[napi]
pub fn ike_aes_cbc<'env>(
    env: &'env Env,
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> Result<BufferSlice<'env>> {
    let mut out =
        BufferSlice::copy_from(env, data).map_err(|e| error("IKE_NATIVE", e.reason.clone()))?;
    ike::aes_cbc(encrypt, key, iv, &mut out).map_err(|e| error(e.code(), e.message()))?;
    Ok(out)
}

/// AES-CBC of `data` where it lies (whole blocks, the caller pads): how
/// lib/ike seals a message it encoded into the buffer it sends, with no
/// copy in or out. Throws IKE_BAD_KEY_LENGTH, IKE_BAD_IV, IKE_BAD_CIPHERTEXT,
/// or IKE_BAD_ARGUMENT when `data` shares memory with `key` or `iv` (JS may
/// pass views of one ArrayBuffer).
#[napi]
pub fn ike_aes_cbc_in_place(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    mut data: BufferSlice,
) -> Result<()> {
    // Checked before a mutable view of `data` exists.
    let d = (data.as_ptr() as usize, data.len());
    let shares = |v: &[u8]| {
        let (a, n) = (v.as_ptr() as usize, v.len());
        n > 0 && d.1 > 0 && a < d.0 + d.1 && d.0 < a + n
    };
    if shares(key) || shares(iv) {
        return Err(error(
            "IKE_BAD_ARGUMENT",
            "data must not share memory with the key or the IV",
        ));
    }
    ike::aes_cbc(encrypt, key, iv, &mut data).map_err(|e| error(e.code(), e.message()))
}

/// CPU time the calling (JS) thread has used, in microseconds: what the
/// IKE benchmark times the responder's work with (one cheap system call,
/// unlike process.cpuUsage, which sums every thread of the process).
#[napi]
pub fn thread_cpu_micros() -> Result<f64> {
    crate::io::sys::thread_cpu_nanos()
        .map(|ns| ns as f64 / 1000.0)
        .map_err(|e| error("ERR_CLOCK", e.to_string()))
}
