# AOSP racoon's Phase 1 list (DES dropped: strongSwan has no single DES), NAT-T
# keepalives every 20 s (strongSwan's default), Phase 2 in racoon's order.
. /interop/guest/lib.sh
PSK=interop-pre-shared-key PPP_USER=alice PPP_PASSWORD=alice-password-1 PPP_AUTH=mschapv2
IKE=aes256-sha256-modp1024,aes256-sha1-modp1024,aes256-md5-modp1024,aes128-sha256-modp1024,aes128-sha1-modp1024,aes128-md5-modp1024,3des-sha256-modp1024,3des-sha1-modp1024,3des-md5-modp1024!
ESP=aes256-sha256,aes256-sha1,aes256-md5,aes128-sha256,aes128-sha1,aes128-md5,3des-sha256,3des-sha1,3des-md5!
PPP_MTU=1400 PPP_EXTRA="usepeerdns"
connect_all
ping_server 10
disconnect_all
done_ok
