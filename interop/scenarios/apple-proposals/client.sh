# macOS/iOS racoon-style offers (CLIENTS.md): about 14 Phase 1 transforms with a
# 3600 s lifetime, Phase 2 AES-256/AES-128/3DES with SHA1 (older templates MD5).
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha256-modp2048,aes256-sha1-modp2048,aes128-sha256-modp2048,aes128-sha1-modp2048,aes256-sha256-modp1536,aes256-sha1-modp1536,aes128-sha1-modp1536,aes256-sha256-modp1024,aes256-sha1-modp1024,aes128-sha1-modp1024,aes256-md5-modp1024,3des-sha1-modp2048,3des-sha1-modp1024,3des-md5-modp1024!
ESP=aes256-sha1,aes128-sha1,3des-sha1,aes256-md5,aes128-md5,3des-md5!
IKELIFETIME=1h KEYLIFE=1h
connect_all
ping_server 10
disconnect_all
done_ok
