# What Windows' built-in client offers (CLIENTS.md): Main Mode, AES-256/SHA1/ECP384,
# AES-128/SHA1/ECP256, AES-256/SHA1/MODP2048, 3DES/SHA1/MODP2048, 3DES/SHA1/MODP1024;
# 8 h Phase 1, ESP AES-256/AES-128/3DES with SHA1 and 1 h, no PFS. PPP: MS-CHAPv2,
# MTU/MRU 1400 and a multilink MRRU of 1614 that the server must reject cleanly.
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha1-ecp384,aes128-sha1-ecp256,aes256-sha1-modp2048,3des-sha1-modp2048,3des-sha1-modp1024!
ESP=aes256-sha1,aes128-sha1,3des-sha1!
IKELIFETIME=8h KEYLIFE=1h
PPP_MTU=1400 PPP_EXTRA=$'multilink\nmrru 1614'
connect_all
grep -q "rcvd \[LCP ConfRej.*mrru" /var/log/pppd.log || fail "the server did not reject the MRRU option (pppd.log)"
ping_server 10
disconnect_all
done_ok
