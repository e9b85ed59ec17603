#!/usr/bin/env python3
"""MS-CHAPv2 Change-Password known answers (RFC 2759 7, 8.9-8.13), written
from the RFC's pseudo-code independently of lib/ppp: MD4 from OpenSSL 3's
legacy provider (the command line), RC4 and single DES from pyca/cryptography
(decrepit ARC4; TripleDES with K1 = K2 = K3), SHA-1 from hashlib.

Inputs are RFC 2759 9.2's (UserName "User", password "clientPass",
AuthenticatorChallenge, PeerChallenge), with the new password "newPass-2759"
and a fixed filler for the random part of the PW_BLOCK (byte i = i * 7 + 3
mod 256) so the output is reproducible. RFC 2759 has no sample data for
Change-Password; these numbers come only from this script.

  python3 change-password-vectors.py > change-password-vectors.json
"""
import hashlib
import json
import subprocess

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes


def md4(data: bytes) -> bytes:
    out = subprocess.run(['openssl', 'dgst', '-md4', '-binary', '-provider', 'legacy', '-provider', 'default'], input=data, capture_output=True, check=True)
    return out.stdout


def nt_password_hash(password: str) -> bytes:  # 8.3
    return md4(password.encode('utf-16-le'))


def rc4(key: bytes, data: bytes) -> bytes:
    return Cipher(ARC4(key), mode=None).encryptor().update(data)


def des_encrypt(clear: bytes, key7: bytes) -> bytes:  # 8.6, MakeKey of RFC 2433 A.6
    bits = int.from_bytes(key7, 'big')
    key8 = bytes((((bits >> (49 - 7 * i)) & 0x7F) << 1) for i in range(8))
    encryptor = Cipher(TripleDES(key8 * 3), modes.ECB()).encryptor()
    return encryptor.update(clear) + encryptor.finalize()


def challenge_hash(peer_challenge: bytes, authenticator_challenge: bytes, user: str) -> bytes:  # 8.2
    return hashlib.sha1(peer_challenge + authenticator_challenge + user.encode()).digest()[:8]


def generate_nt_response(authenticator_challenge, peer_challenge, user, password_hash):  # 8.1, 8.5
    challenge = challenge_hash(peer_challenge, authenticator_challenge, user)
    z = password_hash + bytes(5)
    return b''.join(des_encrypt(challenge, z[i:i + 7]) for i in (0, 7, 14))


def authenticator_response(password_hash, nt_response, peer_challenge, authenticator_challenge, user):  # 8.7
    magic1 = b'Magic server to client signing constant'
    magic2 = b'Pad to make it do more than one iteration'
    digest = hashlib.sha1(md4(password_hash) + nt_response + magic1).digest()
    return 'S=' + hashlib.sha1(digest + challenge_hash(peer_challenge, authenticator_challenge, user) + magic2).hexdigest().upper()


def encrypt_pw_block(new_password: str, password_hash: bytes, filler: bytes) -> tuple[bytes, bytes]:  # 8.10, 8.11
    pw = new_password.encode('utf-16-le')
    block = bytearray(filler[:516])
    block[512 - len(pw):512] = pw
    block[512:516] = len(pw).to_bytes(4, 'little')  # PasswordLength, a ULONG as Windows stores it
    return bytes(block), rc4(password_hash, bytes(block))


def hash_encrypted_with_block(password_hash: bytes, block: bytes) -> bytes:  # 8.13
    return des_encrypt(password_hash[:8], block[:7]) + des_encrypt(password_hash[8:], block[7:14])


user = 'User'
old_password = 'clientPass'
new_password = 'newPass-2759'
authenticator_challenge = bytes.fromhex('5B5D7C7D7B3F2F3E3C2C602132262628')
peer_challenge = bytes.fromhex('21402324255E262A28295F2B3A337C7E')
filler = bytes((i * 7 + 3) % 256 for i in range(516))

old_hash = nt_password_hash(old_password)
new_hash = nt_password_hash(new_password)
clear_block, encrypted_password = encrypt_pw_block(new_password, old_hash, filler)
encrypted_hash = hash_encrypted_with_block(old_hash, new_hash)  # 8.12: old hash under the new one
nt_response = generate_nt_response(authenticator_challenge, peer_challenge, user, new_hash)
flags = bytes(2)
packet_data = encrypted_password + encrypted_hash + peer_challenge + bytes(8) + nt_response + flags

print(json.dumps({
    'source': 'RFC 2759 7 and 8.9-8.13 pseudo-code, computed by __test__/vectors/ppp/change-password-vectors.py (OpenSSL 3 legacy MD4, pyca/cryptography ARC4 and DES); inputs from RFC 2759 9.2 plus a new password and a fixed PW_BLOCK filler',
    'userName': user,
    'oldPassword': old_password,
    'newPassword': new_password,
    'authenticatorChallenge': authenticator_challenge.hex(),
    'peerChallenge': peer_challenge.hex(),
    'filler': filler.hex(),
    'oldPasswordHash': old_hash.hex(),
    'newPasswordHash': new_hash.hex(),
    'clearPwBlock': clear_block.hex(),
    'encryptedPassword': encrypted_password.hex(),
    'encryptedHash': encrypted_hash.hex(),
    'ntResponse': nt_response.hex(),
    'authenticatorResponse': authenticator_response(new_hash, nt_response, peer_challenge, authenticator_challenge, user),
    'changePasswordData': packet_data.hex(),
    'rc4': {
        'source': 'RFC 6229 2 (40-bit key 0x0102030405 and 128-bit key 0x0102...10, keystream offsets 0 and 16), rechecked here with pyca/cryptography ARC4',
        'vectors': [{'key': k, 'keystream32': rc4(bytes.fromhex(k), bytes(32)).hex()} for k in ('0102030405', '0102030405060708090a0b0c0d0e0f10')],
    },
}, indent=2))
